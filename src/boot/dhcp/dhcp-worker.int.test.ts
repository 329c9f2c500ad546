// DHCP on its own thread (dhcp.worker, the default) inside `kiln serve`, in a
// namespace: the test is the relay agent (10.117.1.1:67 on the root end) of a
// relayed subnet. A listed unknown MAC gets OFFER and ACK from the worker, the
// main thread enrols it as a host, its lease is in the store the API reads,
// and /metrics counts the worker's packets; an unlisted MAC (discovery
// allow-list, decided in the worker) gets nothing; SIGTERM stops it cleanly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, createNetns, type TestNetns } from '../../../test/support/netns.js';
import { kilnBin } from '../../../test/support/serve-process.js';
import { stopChild } from '../../../test/support/process.js';
import { createTempPostgres, type TempPostgres } from '../../../test/support/postgres.js';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from '../../protocols/dhcp4/packet.js';
import { ipOption, uintOption } from '../../protocols/dhcp4/options.js';

const skip = canUseNetns() ? false : 'needs root and iproute2 (network namespaces)';
const SERVER = '10.117.0.1';
const RELAY = '10.117.1.1';
const HTTP = `http://${SERVER}:8080`;
const LISTED = '52:54:00:17:00:01';
const UNLISTED = '52:54:00:17:00:02';
let work = '';
let ns: TestNetns | undefined;
let serve: ChildProcess | undefined;
let relay: Socket | undefined;
let database: TempPostgres | undefined;
let output = '';

async function cleanUp(): Promise<void> {
  relay?.close();
  relay = undefined;
  await stopChild(serve, 10_000);
  serve = undefined;
  ns?.remove();
  ns = undefined;
  if (work) rmSync(work, { recursive: true, force: true });
  await database?.drop();
  database = undefined;
}
after(cleanUp);

const token = (): string => readFileSync(join(work, 'data', 'admin-token'), 'utf8').trim();
async function api(path: string): Promise<string> {
  const res = await fetch(`${HTTP}${path}`, {
    headers: { authorization: `Bearer ${token()}` },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, `GET ${path}`);
  return res.text();
}

/** Polls `f` every 100 ms, at most `tries` times, until it returns a value. */
async function eventually<T>(what: string, f: () => Promise<T | undefined>, tries = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${tries} tries`);
}

function request(mac: string, xid: number, type: 1 | 3, offered?: string): DhcpPacket {
  const chaddr = new Uint8Array(16);
  chaddr.set(mac.split(':').map((h) => Number.parseInt(h, 16)));
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 1,
    xid,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: RELAY,
    chaddr,
    sname: '',
    file: '',
    options: [
      uintOption(53, type, 1),
      ...(offered ? [ipOption(50, offered), ipOption(54, SERVER)] : []),
      uintOption(93, 0, 2), // BIOS x86
    ],
  };
}

/** Sends `req` once a second (at most 10 times) until a reply with its xid arrives. */
async function exchange(replies: Map<number, DhcpPacket>, req: DhcpPacket): Promise<DhcpPacket> {
  for (let i = 0; i < 10; i++) {
    relay!.send(encodeDhcp(req), 67, SERVER);
    for (let j = 0; j < 10; j++) {
      const p = replies.get(req.xid);
      if (p) return p;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no reply to xid ${req.xid}`);
}

const count = (metrics: string, outcome: string): number =>
  Number(new RegExp(`^kiln_dhcp_packets_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);

/** The scenario on SQLite (`databaseUrl` undefined) or PostgreSQL. */
async function scenario(databaseUrl?: string): Promise<void> {
  work = mkdtempSync(join(tmpdir(), 'kiln-dhcp-worker-'));
  output = '';
  ns = createNetns('dw', '10.117.0.254/24', `${SERVER}/24`);
  execFileSync('ip', ['addr', 'add', `${RELAY}/24`, 'dev', ns.hostIf]);
  ns.exec('ip', ['route', 'add', '10.117.1.0/24', 'via', '10.117.0.254']);
  const cfg = join(work, 'kiln.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      dhcp: {
        enabled: true,
        serverAddress: SERVER,
        httpBase: HTTP,
        subnets: [
          {
            cidr: '10.117.1.0/24',
            mode: 'full',
            pools: [{ start: '10.117.1.100', end: '10.117.1.199' }],
            relayed: true,
          },
        ],
      },
      tftp: { enabled: false },
    }),
  );
  serve = ns.spawn(
    process.execPath,
    [
      kilnBin,
      'serve',
      '--config',
      cfg,
      '--data-dir',
      join(work, 'data'),
      '--listen',
      '0.0.0.0:8080',
      '--tls-listen',
      '',
      '--public-url',
      HTTP,
      '--node-image',
      'off',
      '--discovery',
      'allow-list',
      '--discovery-allow',
      LISTED,
      ...(databaseUrl ? ['--database-url', databaseUrl] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  serve.stdout!.on('data', (d: Buffer) => (output += String(d)));
  serve.stderr!.on('data', (d: Buffer) => (output += String(d)));
  await eventually(
    'kiln serve: DHCP serving',
    async () => (/"thread":"own"[^\n]*DHCP serving/.test(output) ? true : undefined),
    600,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${output.slice(-4000)}`);
  });

  relay = createSocket('udp4');
  const replies = new Map<number, DhcpPacket>();
  relay.on('message', (m) => {
    const p = decodeDhcp(new Uint8Array(m.buffer, m.byteOffset, m.byteLength));
    replies.set(p.xid, p);
  });
  await new Promise<void>((resolve, reject) => {
    relay!.once('error', reject);
    relay!.bind(67, RELAY, () => resolve());
  });

  const offer = await exchange(replies, request(LISTED, 0x1701, 1));
  assert.equal(offer.options[0]?.data[0], 2, 'OFFER');
  assert.match(offer.yiaddr, /^10\.117\.1\.1\d\d$/);
  const ack = await exchange(replies, request(LISTED, 0x1702, 3, offer.yiaddr));
  assert.equal(ack.options[0]?.data[0], 5, 'ACK');
  assert.equal(ack.yiaddr, offer.yiaddr);

  // The main thread enrolled it (posted by the worker, never awaited) and reads the lease the worker committed.
  const host = await eventually('the host of the listed MAC', async () => {
    const list = JSON.parse(await api(`/api/v1/hosts?mac=${LISTED}`)) as { items: Array<{ state: string }> };
    return list.items[0];
  });
  assert.equal(host.state, 'new');
  const leases = JSON.parse(await api('/api/v1/leases')) as { items: Array<{ ip: string; mac: string }> };
  assert.deepEqual(
    leases.items.map((l) => `${l.ip} ${l.mac}`),
    [`${ack.yiaddr} ${LISTED}`],
  );

  // The unlisted MAC: refused in the worker (no reply), counted as ignored in the shared counters.
  const before = count(await api('/metrics'), 'ignored');
  for (let i = 0; i < 3; i++) relay.send(encodeDhcp(request(UNLISTED, 0x1710 + i, 1)), 67, SERVER);
  const metrics = await eventually('three ignored DISCOVERs in /metrics', async () => {
    const m = await api('/metrics');
    return count(m, 'ignored') >= before + 3 ? m : undefined;
  });
  assert.equal(count(metrics, 'replied'), 2, 'OFFER and ACK of the listed MAC, nothing else');
  assert.equal([0, 1, 2].filter((i) => replies.has(0x1710 + i)).length, 0, 'no reply to the unlisted MAC');

  // SIGTERM: the worker drains and closes; the controller exits 0.
  const code = new Promise<number | null>((r) => serve!.once('exit', (c) => r(c)));
  serve.kill('SIGTERM');
  assert.equal(await code, 0, output.slice(-2000));
  serve = undefined;
}

test(
  'DHCP on its own thread (SQLite): answers from the worker, enrolment and leases on the main thread, allow-list refusal in the worker, clean stop',
  { skip, timeout: 120_000 },
  async () => {
    try {
      await scenario();
    } finally {
      await cleanUp();
    }
  },
);

test("DHCP on its own thread (PostgreSQL, the worker's own pool): the same", { skip, timeout: 120_000 }, async () => {
  database = await createTempPostgres('dhcpworker');
  // 127.0.0.1 inside the namespace is its own loopback: kiln serve reaches PostgreSQL through its Unix socket.
  const { username, pathname } = new URL(database.url);
  try {
    await scenario(
      `postgres://${username}@${pathname}?host=${process.env.KILN_TEST_PG_SOCKET ?? '/var/run/postgresql'}`,
    );
  } finally {
    await cleanUp();
  }
});
