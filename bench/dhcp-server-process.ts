// Runs Kiln's DHCP server as its own process (for interop tests and the bench,
// which start it inside a network namespace). Usage:
//   tsx bench/dhcp-server-process.ts <config.json> <leases.sqlite>
// config.json: { "dhcp": DhcpConfig, "hosts": { "<mac>": DhcpHost } }. Prints
// "ready" when serving; SIGTERM closes it (pending lease commits finish first).
import { readFileSync } from 'node:fs';
import { openSqlite } from '../src/store/database.js';
import { migrateToLatest } from '../src/store/migrate.js';
import { startDhcpServer, type DhcpHost } from '../src/boot/dhcp/dhcp-server.js';
import { createSqlLeaseStore } from '../src/boot/dhcp/sql-lease-store.js';
import { createSqliteLeaseStore } from '../src/boot/dhcp/sqlite-lease-store.js';
import type { DhcpConfig } from '../src/boot/dhcp/dhcp-config.js';

const [configFile, dbFile] = process.argv.slice(2);
const { dhcp, hosts = {} } = JSON.parse(readFileSync(configFile!, 'utf8')) as { dhcp: DhcpConfig; hosts?: Record<string, DhcpHost> };
const store = openSqlite(dbFile!);
await migrateToLatest(store.db);
const ac = new AbortController();
const server = await startDhcpServer({
  config: dhcp, leases: store.sqlite ? createSqliteLeaseStore(store.db, store.sqlite) : createSqlLeaseStore(store.db), signal: ac.signal,
  backend: { findHostByMac: async (mac) => hosts[mac] ?? null },
});
process.on('SIGTERM', () => {
  ac.abort();
  void server.close().then(() => store.close()).then(() => {
    process.stdout.write(`stats ${JSON.stringify(server.stats)}\n`);
    process.exit(0);
  });
});
process.stdout.write('ready\n');
