// Kiln's DHCP server in process, without a network: fresh clients' DISCOVERs
// and REQUESTs injected into an in-memory socket in bursts, the replies read
// back, leases in an in-memory SQLite database committed in this thread (no
// worker, no fsync). What it leaves to the network bench (dhcp-cpu.bench.ts):
// the kernel, Node's UDP path, the lease worker and the fsync. What it gives:
// the instructions of decoding, deciding, allocating, the lease index, the
// group commit and encoding, with no timing in the way, to compare two trees:
//   valgrind --tool=callgrind --callgrind-out-file=OUT node dist/bench/dhcp-replay.js [clients] [burst] [tree]
// `tree`: a checkout whose dist/ holds the server to drive (default: this one).
// Prints the DORAs completed; callgrind's total ÷ DORAs is the cost of one,
// with start-up included (run it with two client counts and take the difference).
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
// The harness's own requests and its reading of replies: this checkout's codec, whichever tree is driven, so
// the harness costs the same for both trees.
import { decodeDhcp, encodeDhcp, type DhcpRawOption } from '../src/protocols/dhcp4/packet.js';

const clients = Number(process.argv[2] ?? 20_000);
const burst = Number(process.argv[3] ?? 64);
const tree = resolve(process.argv[4] ?? join(import.meta.dirname, '..', '..'));
const from = (path: string) => import(pathToFileURL(join(tree, 'dist', path)).href);

const { startDhcpServer } = (await from(
  'src/boot/dhcp/dhcp-server.js',
)) as typeof import('../src/boot/dhcp/dhcp-server.js');
const { createMemorySocket } = (await from(
  'src/net/datagram/memory-socket.js',
)) as typeof import('../src/net/datagram/memory-socket.js');
const { openSqlite } = (await from('src/store/database.js')) as typeof import('../src/store/database.js');
const { migrateToLatest } = (await from('src/store/migrate.js')) as typeof import('../src/store/migrate.js');
const { createSqliteLeaseStore } = (await from(
  'src/boot/dhcp/sqlite-lease-store.js',
)) as typeof import('../src/boot/dhcp/sqlite-lease-store.js');
const { defaultDhcpConfig } = (await from(
  'src/boot/dhcp/dhcp-config.js',
)) as typeof import('../src/boot/dhcp/dhcp-config.js');

const store = openSqlite(':memory:');
await migrateToLatest(store.db);
const sock = createMemorySocket();
const server = await startDhcpServer({
  config: {
    ...defaultDhcpConfig,
    enabled: true,
    serverAddress: '10.116.0.1',
    httpBase: 'http://10.116.0.1:8080',
    groupCommitIntervalMs: 0,
    subnets: [
      {
        cidr: '10.116.0.0/16',
        mode: 'full',
        pools: [{ start: '10.116.1.0', end: '10.116.255.254' }],
        dns: [],
        leaseSeconds: 43_200,
        attached: true,
      },
    ],
  },
  leases: createSqliteLeaseStore(store.db, store.sqlite!),
  backend: { findHostByMac: async () => null },
  sockets: { dhcp: sock },
});

/** A perfdhcp-like request: broadcast flag, options 53, 55 (and 50, 54 for a REQUEST). */
function request(type: number, n: number, offered?: Uint8Array): Uint8Array {
  const chaddr = new Uint8Array(16);
  chaddr.set([0x02, 0x16, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const options: DhcpRawOption[] = [
    { code: 53, data: Uint8Array.of(type) },
    { code: 55, data: Uint8Array.of(1, 3, 6, 15, 28, 51, 58, 59) },
  ];
  if (offered) options.push({ code: 50, data: offered }, { code: 54, data: Uint8Array.of(10, 116, 0, 1) });
  return encodeDhcp({
    ...{ op: 1, htype: 1, hlen: 6, hops: 0, xid: n, secs: 0, flags: 0x8000 },
    ...{ ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0' },
    ...{ chaddr, sname: '', file: '', options },
  });
}
const peer = { address: '0.0.0.0', port: 68 };
/** Waits (bounded) until `n` replies have been sent in all. */
async function replies(n: number): Promise<void> {
  for (let i = 0; i < 100_000 && sock.sent.length < n; i++) await new Promise((r) => setImmediate(r));
}

let acks = 0;
for (let first = 0; first < clients; first += burst) {
  const count = Math.min(burst, clients - first);
  const base = sock.sent.length;
  for (let i = 0; i < count; i++) sock.inject(request(1, first + i), peer);
  await replies(base + count);
  const offers = sock.sent.slice(base).map((s) => decodeDhcp(s.bytes));
  for (const o of offers) {
    const [a, b, c, d] = o.yiaddr.split('.').map(Number);
    sock.inject(request(3, o.xid, Uint8Array.of(a!, b!, c!, d!)), peer);
  }
  await replies(base + count + offers.length);
  acks += sock.sent.slice(base + count).filter((s) => s.bytes[242] === 5).length;
  sock.sent.length = 0;
}
await server.close();
await store.close();
console.log(`${acks} DORAs of ${clients} clients, bursts of ${burst}`);
