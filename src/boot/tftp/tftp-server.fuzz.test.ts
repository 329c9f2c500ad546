// Property test of the TFTP server (not only its decoder): random, truncated and
// bit-flipped datagrams at the listen port and at a running transfer's port,
// from the transfer's client and from strangers. Whatever arrives, the server
// must not throw or leave an unhandled rejection, every transfer must end and
// close its file and socket, and a clean fetch must still return the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeTftp, encodeTftp, type TftpOption, type TftpPacket } from '../../protocols/tftp/packet.js';
import { createMemoryLogger } from '../../log/logger.js';
import { createMemoryNetwork, type MemoryNetwork } from '../../net/datagram/memory-socket.js';
import type { DatagramSocket, UdpPeer } from '../../net/datagram/datagram-socket.js';
import { tftpFileFromBytes, type TftpFileSource } from './file-source.js';
import { startTftpServer } from './tftp-server.js';
import { defaultTftpConfig } from './tftp-config.js';

const SERVER = { address: '10.0.0.1', port: 69 };
const FILE = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13 + (i >> 8)) & 0xff);

/** What the fuzzed transfers ask for. No `timeout` option: the server echoes it (RFC 2349) and would keep abandoned transfers for seconds. */
const optionSets: TftpOption[][] = [
  [],
  [{ name: 'blksize', value: '1024' }],
  [
    { name: 'tsize', value: '0' },
    { name: 'windowsize', value: '4' },
  ],
  [{ name: 'blksize', value: '8' }],
  [
    { name: 'windowsize', value: '64' },
    { name: 'blksize', value: '65464' },
  ],
];
const seeds: TftpPacket[] = [
  ...optionSets.map((options): TftpPacket => ({ op: 'rrq', filename: 'f', mode: 'octet', options })),
  { op: 'rrq', filename: 'f', mode: 'netascii', options: [] },
  { op: 'rrq', filename: '../f', mode: 'octet', options: [] },
  { op: 'wrq', filename: 'f', mode: 'octet', options: [] },
  { op: 'ack', block: 1 },
  { op: 'ack', block: 0 },
  { op: 'rrq', filename: 'f', mode: 'octet', options: [{ name: 'timeout', value: '1' }] },
  { op: 'data', block: 1, data: Uint8Array.of(1, 2, 3) },
  { op: 'error', code: 0, message: 'x' },
  { op: 'oack', options: optionSets[2] },
];
/** One hostile datagram: random bytes, a truncated packet, or a packet with a few bytes overwritten. */
const datagram = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 600 }),
  fc.tuple(fc.constantFrom(...seeds), fc.nat(80)).map(([p, cut]) => encodeTftp(p).subarray(0, cut)),
  fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(1000), fc.nat(255)), { minLength: 1, maxLength: 6 }))
    .map(([p, flips]) => {
      const out = encodeTftp(p).slice();
      for (const [at, x] of flips) out[at % out.length] = x;
      return out;
    }),
);
/** Where it goes: the listen port or the transfer's port; from the transfer's client or a stranger. */
const shot = fc.record({ bytes: datagram, toTransfer: fc.boolean(), fromClient: fc.boolean() });

const tick = () => new Promise((r) => setImmediate(r));

/** Waits (bounded) for the next datagram in `inbox`. */
async function next(inbox: Array<[Uint8Array, UdpPeer]>, ms = 2000): Promise<[Uint8Array, UdpPeer] | undefined> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    const p = inbox.shift();
    if (p) return p;
    await new Promise((r) => setTimeout(r, 1));
  }
  return undefined;
}

async function client(
  net: MemoryNetwork,
  address: string,
): Promise<{ sock: DatagramSocket; inbox: Array<[Uint8Array, UdpPeer]> }> {
  const sock = await net.bind({ address, port: 0 });
  const inbox: Array<[Uint8Array, UdpPeer]> = [];
  sock.receive((b, from) => inbox.push([b, from]));
  return { sock, inbox };
}

/** A plain RFC 1350 fetch of `f` (no options), ACKing each block; the reassembled bytes or the first ERROR. */
async function cleanFetch(net: MemoryNetwork): Promise<Uint8Array | TftpPacket> {
  const { sock, inbox } = await client(net, '10.0.0.9');
  try {
    sock.send(encodeTftp({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), SERVER);
    const parts: number[] = [];
    for (let expect = 1; expect < 100;) {
      const got = await next(inbox);
      if (!got) throw new Error(`no block ${expect}`);
      const p = decodeTftp(got[0]);
      if (p.op === 'error') return p;
      if (p.op !== 'data' || p.block !== expect) continue;
      parts.push(...p.data);
      sock.send(encodeTftp({ op: 'ack', block: p.block }), got[1]);
      if (p.data.length < 512) break;
      expect++;
    }
    return Uint8Array.from(parts);
  } finally {
    sock.close();
  }
}

test('fuzz: hostile datagrams at the listen port and at running transfers never crash the server; every transfer ends and closes', async () => {
  const rejections: unknown[] = [];
  const onRejection = (err: unknown) => {
    rejections.push(err);
  };
  process.on('unhandledRejection', onRejection);
  const net = createMemoryNetwork();
  let open = 0;
  const source: TftpFileSource = async (path) => {
    if (path !== 'f') return { error: 'not_found', reason: 'missing' };
    open++;
    const inner = tftpFileFromBytes(FILE);
    return {
      file: {
        size: inner.size,
        read: inner.read,
        close: async () => {
          open--;
        },
      },
    };
  };
  const log = createMemoryLogger();
  // Short timers: an abandoned transfer is gone after 10 + 20 + 40 ms (unless a fuzzed RRQ asked for a `timeout`).
  const server = await startTftpServer({
    config: { ...defaultTftpConfig, address: SERVER.address, retransmitMs: 10, maxRetries: 2 },
    source,
    log,
    port: 69,
    sockets: net.bind,
  });
  const stranger = await client(net, '10.0.0.66');
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...optionSets),
        fc.array(shot, { minLength: 1, maxLength: 12 }),
        async (options, shots) => {
          // A transfer starts; the hostile datagrams arrive while it runs; then its client goes away.
          const c = await client(net, '10.0.0.2');
          try {
            c.sock.send(encodeTftp({ op: 'rrq', filename: 'f', mode: 'octet', options }), SERVER);
            const first = await next(c.inbox);
            assert.ok(first, 'the transfer answered its RRQ');
            for (const s of shots)
              (s.fromClient ? c.sock : stranger.sock).send(s.bytes, s.toTransfer ? first[1] : SERVER);
            for (let i = 0; i < 20; i++) await tick();
          } finally {
            c.sock.close();
          }
        },
      ),
      { numRuns: 150 },
    );
    assert.deepEqual(await cleanFetch(net), FILE, 'a clean fetch still returns the file');
    assert.ok(
      log.lines.some((l) => l.msg === 'tftp: client stopped answering, transfer dropped'),
      'abandoned transfers time out',
    );
    assert.ok(!log.lines.some((l) => l.msg === 'tftp: request failed'), 'no request failed inside the server');
    assert.ok(
      log.lines.some((l) => l.msg === 'tftp: malformed packet dropped'),
      'the corpus reached the decoder errors',
    );
  } finally {
    stranger.sock.close();
    await server.close();
    process.off('unhandledRejection', onRejection);
  }
  // close() aborts what is left (transfers whose fuzzed RRQ asked for a long timeout): nothing stays open.
  assert.equal(server.activeTransfers, 0, 'every transfer ended');
  assert.equal(open, 0, 'every opened file is closed');
  assert.deepEqual([...net.open], [], 'every socket is closed');
  assert.deepEqual(rejections, []);
});
