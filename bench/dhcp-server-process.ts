// Runs Kiln's DHCP server as its own process (for interop tests and the bench,
// which start it inside a network namespace). Usage:
//   tsx bench/dhcp-server-process.ts <config.json> <leases.sqlite>
// config.json: { "dhcp": DhcpConfig, "hosts": { "<mac>": DhcpHost }, "server"?: { reopenDelaysMs, deviceCheckMs } }.
// Prints "ready" when serving; SIGTERM closes it (pending lease commits finish first). A socket that
// cannot be re-opened ends it with exit code 6 and one line on stderr, as `kiln serve` does.
import { readFileSync } from 'node:fs';
import { openSqlite } from '../src/store/database.js';
import { migrateToLatest } from '../src/store/migrate.js';
import { startDhcpServer, type DhcpHost } from '../src/boot/dhcp/dhcp-server.js';
import { createSqlLeaseStore } from '../src/boot/dhcp/sql-lease-store.js';
import { createSqliteLeaseStore } from '../src/boot/dhcp/sqlite-lease-store.js';
import type { DhcpConfig } from '../src/boot/dhcp/dhcp-config.js';
import { createStageRecorder } from './dhcp-stages.js';

const [configFile, dbFile] = process.argv.slice(2);
const {
  dhcp,
  hosts = {},
  server: tuning = {},
} = JSON.parse(readFileSync(configFile!, 'utf8')) as {
  dhcp: DhcpConfig;
  hosts?: Record<string, DhcpHost>;
  server?: { reopenDelaysMs?: number[]; deviceCheckMs?: number };
};
const store = openSqlite(dbFile!);
await migrateToLatest(store.db);
const ac = new AbortController();
// Replies by message type (option 53), printed with the stats: a NAK storm shows here.
const replies: Record<number, number> = {};
// KILN_DHCP_STAGES=1: where each answered datagram's time went, printed as one `stages` line at SIGTERM.
const stages = process.env['KILN_DHCP_STAGES'] ? createStageRecorder() : undefined;
const server = await startDhcpServer({
  config: dhcp,
  leases: store.sqlite ? createSqliteLeaseStore(store.db, store.sqlite) : createSqlLeaseStore(store.db),
  signal: ac.signal,
  backend: { findHostByMac: async (mac) => hosts[mac] ?? null },
  ...tuning,
  ...(stages ? { onTiming: stages.record } : {}),
  onReply: ({ reply }) => {
    const t = reply.options.find((o) => o.code === 53)?.data[0] ?? 0;
    replies[t] = (replies[t] ?? 0) + 1;
  },
  onSocketEvent: (e) => process.stdout.write(`socket ${e.kind} ${e.interface ?? '*'}:${e.port}\n`),
  onFatal: (err) => {
    process.stderr.write(`error: ${err.message} [${err.code}]\n`);
    ac.abort();
    void store.close();
    process.exit(6);
  },
});
process.on('SIGTERM', () => {
  ac.abort();
  void server
    .close()
    .then(() => store.close())
    .then(() => {
      process.stdout.write(`stats ${JSON.stringify({ ...server.stats, repliesByType: replies })}\n`);
      if (stages) process.stdout.write(`stages ${stages.summary()}\n`);
      process.exit(0);
    });
});
process.stdout.write('ready\n');
