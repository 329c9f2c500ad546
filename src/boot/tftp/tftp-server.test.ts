import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTftp, encodeTftp, type TftpOption, type TftpPacket } from '../../protocols/tftp/packet.js';
import { createMemoryLogger } from '../../log/logger.js';
import { createMemoryNetwork, type MemoryNetwork } from '../../net/datagram/memory-socket.js';
import type { DatagramSocket, UdpPeer } from '../../net/datagram/datagram-socket.js';
import { tftpFileFromBytes, type TftpFile, type TftpFileSource } from './file-source.js';
import { startTftpServer, type TftpServer, type TftpServerDeps } from './tftp-server.js';
import { defaultTftpConfig } from './tftp-config.js';

const SERVER = { address: '10.0.0.1', port: 69 };
const CLIENT = { address: '10.0.0.2', port: 0 };

function pattern(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
}

/** A source over a map of files that counts open files, to prove every transfer closes what it opens. */
function mapSource(files: Record<string, Uint8Array>): { source: TftpFileSource; openFiles: () => number } {
  let open = 0;
  const source: TftpFileSource = async (path) => {
    const bytes = files[path];
    if (!bytes) return { error: 'not_found', reason: 'missing' };
    open++;
    const inner = tftpFileFromBytes(bytes);
    const file: TftpFile = {
      size: inner.size,
      read: inner.read,
      close: async () => {
        open--;
      },
    };
    return { file };
  };
  return { source, openFiles: () => open };
}

/** Waits for the next datagram on `sock`, or rejects after `ms`. */
function nextPacket(inbox: Array<[TftpPacket, UdpPeer]>, ms = 2000): Promise<[TftpPacket, UdpPeer]> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      const p = inbox.shift();
      if (p) resolve(p);
      else if (Date.now() > deadline) reject(new Error('timeout waiting for a packet'));
      else setTimeout(poll, 1);
    };
    poll();
  });
}

/** A read request for `filename` in octet mode, without options. */
const rrq = (filename: string): Uint8Array => encodeTftp({ op: 'rrq', filename, mode: 'octet', options: [] });

/** Polls `done` every 5 ms until it holds or `ms` pass (the caller asserts what it waited for). */
async function waitFor(done: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

async function openClient(net: MemoryNetwork): Promise<{ sock: DatagramSocket; inbox: Array<[TftpPacket, UdpPeer]> }> {
  const sock = await net.bind(CLIENT);
  const inbox: Array<[TftpPacket, UdpPeer]> = [];
  sock.receive((b, from) => inbox.push([decodeTftp(b), from]));
  return { sock, inbox };
}

/** A minimal RFC 1350/2347/7440 client: fetches `name`, ACKing each window's last block. */
async function fetch(
  net: MemoryNetwork,
  name: string,
  options: TftpOption[] = [],
  ackHook?: (block: number) => number[],
): Promise<{ bytes: Uint8Array; oack: TftpOption[] | null; error: TftpPacket | null }> {
  const { sock, inbox } = await openClient(net);
  try {
    sock.send(encodeTftp({ op: 'rrq', filename: name, mode: 'octet', options }), SERVER);
    const wanted = Object.fromEntries(options.map((o) => [o.name, Number(o.value)]));
    let blksize = 512;
    let window = 1;
    let oack: TftpOption[] | null = null;
    const parts: Uint8Array[] = [];
    let expect = 1;
    let sinceAck = 0;
    for (let guard = 0; guard < 1_000_000; guard++) {
      const [p, from] = await nextPacket(inbox);
      if (p.op === 'error') return { bytes: new Uint8Array(), oack, error: p };
      if (p.op === 'oack') {
        oack = p.options;
        const got = Object.fromEntries(p.options.map((o) => [o.name, Number(o.value)]));
        blksize = got.blksize ?? 512;
        window = got.windowsize ?? 1;
        assert.ok(!wanted.blksize || got.blksize <= wanted.blksize);
        sock.send(encodeTftp({ op: 'ack', block: 0 }), from);
        continue;
      }
      assert.equal(p.op, 'data');
      if (p.op !== 'data') continue;
      if (p.block !== (expect & 0xffff)) continue; // duplicate from a retransmission
      parts.push(p.data.slice());
      expect++;
      sinceAck++;
      const last = p.data.length < blksize;
      if (last || sinceAck === window) {
        for (const b of ackHook?.(p.block) ?? [p.block]) sock.send(encodeTftp({ op: 'ack', block: b }), from);
        sinceAck = 0;
      }
      if (last) break;
    }
    const total = parts.reduce((n, x) => n + x.length, 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const x of parts) {
      bytes.set(x, at);
      at += x.length;
    }
    return { bytes, oack, error: null };
  } finally {
    sock.close();
  }
}

async function withServer(
  files: Record<string, Uint8Array>,
  over: Partial<TftpServerDeps['config']>,
  body: (ctx: {
    net: MemoryNetwork;
    openFiles: () => number;
    log: ReturnType<typeof createMemoryLogger>;
    server: TftpServer;
  }) => Promise<void>,
): Promise<void> {
  const net = createMemoryNetwork();
  const { source, openFiles } = mapSource(files);
  const log = createMemoryLogger();
  const server = await startTftpServer({
    config: { ...defaultTftpConfig, address: SERVER.address, retransmitMs: 30, maxRetries: 3, ...over },
    source,
    log,
    port: 69,
    sockets: net.bind,
  });
  try {
    await body({ net, openFiles, log, server });
  } finally {
    await server.close();
  }
  assert.equal(openFiles(), 0, 'every opened file is closed');
  assert.deepEqual([...net.open], [], 'every socket is closed');
}

test('serves a file without options, ending with an empty block when size is a multiple of 512', async () => {
  const data = pattern(512 * 3);
  await withServer({ 'a.bin': data }, {}, async ({ net }) => {
    const r = await fetch(net, 'a.bin');
    assert.equal(r.error, null);
    assert.equal(r.oack, null);
    assert.deepEqual(r.bytes, data);
  });
});

test('negotiates blksize, tsize and windowsize and serves the same bytes', async () => {
  const data = pattern(100_000);
  await withServer({ 'k/vmlinuz': data }, { maxBlksize: 1468 }, async ({ net }) => {
    const r = await fetch(net, '/k/vmlinuz', [
      { name: 'blksize', value: '9000' },
      { name: 'tsize', value: '0' },
      { name: 'windowsize', value: '16' },
    ]);
    assert.deepEqual(r.oack, [
      { name: 'blksize', value: '1468' },
      { name: 'tsize', value: '100000' },
      { name: 'windowsize', value: '16' },
    ]);
    assert.deepEqual(r.bytes, data);
  });
});

test('block numbers wrap past 65535', async () => {
  const data = pattern(8 * 70_000 + 3);
  await withServer({ big: data }, {}, async ({ net }) => {
    const r = await fetch(net, 'big', [
      { name: 'blksize', value: '8' },
      { name: 'windowsize', value: '64' },
    ]);
    assert.deepEqual(r.bytes, data);
  });
});

test('refuses writes, escapes, missing files and bad options with the right ERROR code', async () => {
  await withServer({ f: pattern(10) }, {}, async ({ net }) => {
    const { sock, inbox } = await openClient(net);
    sock.send(encodeTftp({ op: 'wrq', filename: 'f', mode: 'octet', options: [] }), SERVER);
    assert.deepEqual((await nextPacket(inbox))[0], { op: 'error', code: 2, message: 'server is read-only' });
    sock.close();
    const cases: Array<[string, TftpOption[], number]> = [
      ['../etc/passwd', [], 2],
      ['a/../../f', [], 2],
      ['missing', [], 1],
      ['f', [{ name: 'blksize', value: '4' }], 8],
    ];
    for (const [name, options, code] of cases) {
      const r = await fetch(net, name, options);
      assert.equal(r.error?.op === 'error' && r.error.code, code, name);
    }
  });
});

test('malformed packets are dropped and logged; the server keeps serving', async () => {
  await withServer({ f: pattern(700) }, {}, async ({ net, log }) => {
    const { sock } = await openClient(net);
    for (const junk of [[], [0], [0, 9, 1, 1], [0, 1, 0x66]]) sock.send(Uint8Array.from(junk), SERVER);
    sock.close();
    const r = await fetch(net, 'f');
    assert.deepEqual(r.bytes, pattern(700));
    assert.equal(log.lines.filter((l) => l.msg === 'tftp: malformed packet dropped').length, 4);
  });
});

test("a duplicate ACK does not trigger a retransmission (Sorcerer's Apprentice, RFC 1123 §4.2.3.1)", async () => {
  await withServer({ f: pattern(512 * 20) }, { retransmitMs: 5000 }, async ({ net }) => {
    let dataPackets = 0;
    net.drop = (b) => {
      if (b[1] === 3) dataPackets++;
      return false;
    };
    const r = await fetch(net, 'f', [], (block) => [block, block, block]);
    assert.deepEqual(r.bytes, pattern(512 * 20));
    assert.equal(dataPackets, 21, 'exactly one DATA per block, no extra sends on duplicate ACKs');
  });
});

test('a lost DATA packet is retransmitted after the timeout', async () => {
  await withServer({ f: pattern(3000) }, {}, async ({ net }) => {
    let dropped = 0;
    net.drop = (b) => b[1] === 3 && b[3] === 2 && dropped++ === 0;
    const r = await fetch(net, 'f');
    assert.deepEqual(r.bytes, pattern(3000));
    assert.equal(dropped, 2, 'block 2 was sent twice');
  });
});

test('a vanishing client costs nothing after its timeout: socket and file are closed', async () => {
  await withServer({ f: pattern(5000) }, { retransmitMs: 20, maxRetries: 3 }, async ({ net, openFiles, log }) => {
    const { sock, inbox } = await openClient(net);
    sock.send(encodeTftp({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), SERVER);
    await nextPacket(inbox);
    assert.equal(openFiles(), 1);
    // 20 + 40 + 80 + 160 ms of back-off, then the transfer is dropped.
    await waitFor(() => openFiles() === 0, 3000);
    assert.equal(openFiles(), 0);
    assert.deepEqual([...net.open].sort(), ['10.0.0.1:69', `10.0.0.2:${sock.local.port}`]);
    assert.equal(inbox.length, 3, 'three retransmissions of block 1, then silence');
    assert.ok(log.lines.some((l) => l.msg === 'tftp: client stopped answering, transfer dropped'));
    sock.close();
  });
});

test('a packet from a foreign TID gets ERROR 5 and the transfer continues', async () => {
  // A long retransmission timeout: a resent DATA 1 under load must not stand in for DATA 2.
  await withServer({ f: pattern(2000) }, { retransmitMs: 5000 }, async ({ net }) => {
    const { sock, inbox } = await openClient(net);
    sock.send(encodeTftp({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), SERVER);
    const [first, from] = await nextPacket(inbox);
    assert.equal(first.op, 'data');
    const stranger = await openClient(net);
    stranger.sock.send(encodeTftp({ op: 'ack', block: 1 }), from);
    assert.deepEqual((await nextPacket(stranger.inbox))[0], { op: 'error', code: 5, message: 'unknown transfer ID' });
    stranger.sock.close();
    sock.send(encodeTftp({ op: 'ack', block: 1 }), from);
    const [second] = await nextPacket(inbox);
    assert.deepEqual(second.op === 'data' && second.block, 2);
    sock.close();
  });
});

test('a late copy of an RRQ whose transfer has ended starts no second transfer; another file from that port is served', async () => {
  // A long retransmission timeout: the copy below arrives well within retransmitMs × maxRetries of the end.
  await withServer({ f: pattern(100), g: pattern(100) }, { retransmitMs: 5000 }, async ({ net, log, server }) => {
    const { sock, inbox } = await openClient(net);
    sock.send(rrq('f'), SERVER);
    const [data, from] = await nextPacket(inbox);
    assert.equal(data.op === 'data' && data.data.length, 100);
    sock.send(encodeTftp({ op: 'ack', block: 1 }), from);
    await waitFor(() => server.activeTransfers === 0);
    assert.equal(server.activeTransfers, 0, 'the transfer ended');
    sock.send(rrq('f'), SERVER); // the client's resent RRQ, read only now
    await waitFor(() => log.lines.some((l) => l.msg?.startsWith('tftp: late copy')));
    assert.ok(
      log.lines.some((l) => l.msg?.startsWith('tftp: late copy')),
      'the copy is recognised',
    );
    assert.equal(inbox.length, 0, 'and nothing is sent for it');
    sock.send(rrq('g'), SERVER);
    const [other] = await nextPacket(inbox);
    assert.equal(other.op, 'data', 'a different file from the same port is a new request');
    sock.close();
  });
});

test('another file asked from a port whose transfer is running aborts that transfer and is served from a new TID', async () => {
  // A long retransmission timeout: the first transfer would otherwise stay alive, resending block 1 to this port.
  await withServer({ f: pattern(2000), g: pattern(100) }, { retransmitMs: 5000 }, async ({ net, log, openFiles }) => {
    const { sock, inbox } = await openClient(net);
    sock.send(rrq('f'), SERVER);
    const [first, oldTid] = await nextPacket(inbox);
    assert.equal(first.op === 'data' && first.data.length, 512, "the first transfer's block 1");
    // Its client is gone; a new one on the same port asks for another file.
    sock.send(rrq('g'), SERVER);
    const [other, newTid] = await nextPacket(inbox);
    assert.equal(other.op === 'data' && other.data.length, 100, 'the new file, in one block');
    assert.notEqual(newTid.port, oldTid.port, 'from a TID of its own');
    assert.ok(log.lines.some((l) => l.msg?.startsWith('tftp: another file asked from a port')));
    // The old TID is closed: an ACK to it reaches nobody, so nothing comes back from it.
    assert.ok(!net.open.has(`${oldTid.address}:${oldTid.port}`), "the first transfer's socket is closed");
    sock.send(encodeTftp({ op: 'ack', block: 1 }), newTid);
    await waitFor(() => openFiles() === 0);
    assert.equal(openFiles(), 0, 'both files closed');
    assert.equal(inbox.length, 0, 'nothing more from either transfer');
    sock.close();
  });
});

/** Reads a transfer to its end from `inbox`, acknowledging each block (512-byte blocks, no options). */
async function readToEnd(
  sock: DatagramSocket,
  inbox: Array<[TftpPacket, UdpPeer]>,
  first: [TftpPacket, UdpPeer],
): Promise<number> {
  let [p, tid] = first;
  let bytes = 0;
  for (let n = 0; n < 1000; n++) {
    assert.equal(p.op, 'data');
    if (p.op !== 'data') break;
    bytes += p.data.length;
    sock.send(encodeTftp({ op: 'ack', block: p.block }), tid);
    if (p.data.length < 512) return bytes;
    [p, tid] = await nextPacket(inbox);
  }
  return bytes;
}

test('RRQs beyond maxTransfers wait and start oldest first as transfers end, not dropped', async () => {
  await withServer(
    { f: pattern(1500), g: pattern(100), h: pattern(100) },
    { maxTransfers: 1, retransmitMs: 2000 },
    async ({ net, log, server }) => {
      const a = await openClient(net);
      a.sock.send(rrq('f'), SERVER);
      const firstA = await nextPacket(a.inbox);
      // The one slot is taken: B, then C, wait (nothing is sent to them), and B's retransmission keeps its place.
      const b = await openClient(net);
      const c = await openClient(net);
      b.sock.send(rrq('g'), SERVER);
      c.sock.send(rrq('h'), SERVER);
      b.sock.send(rrq('g'), SERVER);
      await waitFor(() => server.waitingRequests >= 2);
      assert.equal(server.waitingRequests, 2, 'B and C wait; the retransmission is not a third');
      assert.equal(b.inbox.length + c.inbox.length, 0);
      assert.ok(log.lines.some((l) => l.msg?.startsWith('tftp: transfer limit reached: RRQs wait')));
      // A's transfer ends: B's starts (C still waits), then C's.
      assert.equal(await readToEnd(a.sock, a.inbox, firstA), 1500);
      const firstB = await nextPacket(b.inbox);
      assert.equal(c.inbox.length, 0, 'C waits for B');
      assert.equal(server.waitingRequests, 1);
      assert.equal(await readToEnd(b.sock, b.inbox, firstB), 100);
      assert.equal(await readToEnd(c.sock, c.inbox, await nextPacket(c.inbox)), 100);
      for (const x of [a, b, c]) x.sock.close();
    },
  );
});

test('a waiting RRQ whose client fell silent longer than retransmitMs × maxRetries is skipped, not served', async () => {
  // A takes the one slot and then vanishes: its transfer is dropped after 20 + 40 + 80 ms of back-off. B asked
  // meanwhile and said nothing since: by then it has been silent longer than 20 × 3 ms, so it is not served.
  await withServer(
    { f: pattern(1000), g: pattern(100) },
    { maxTransfers: 1, retransmitMs: 20, maxRetries: 3 },
    async ({ net, log, server }) => {
      const a = await openClient(net);
      a.sock.send(rrq('f'), SERVER);
      await nextPacket(a.inbox);
      const b = await openClient(net);
      b.sock.send(rrq('g'), SERVER);
      await waitFor(() => server.activeTransfers === 0 && server.waitingRequests === 0, 3000);
      assert.equal(server.activeTransfers, 0, "A's transfer was dropped");
      assert.equal(server.waitingRequests, 0, "B's RRQ left the wait list");
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(b.inbox.length, 0, 'nothing is sent to a client that gave up');
      assert.ok(log.lines.some((l) => l.msg === 'tftp: client stopped answering, transfer dropped'));
      a.sock.close();
      b.sock.close();
    },
  );
});

test('netascii mode converts line ends', async () => {
  await withServer({ t: new TextEncoder().encode('a\nb\n') }, {}, async ({ net }) => {
    const { sock, inbox } = await openClient(net);
    sock.send(encodeTftp({ op: 'rrq', filename: 't', mode: 'NETASCII', options: [] }), SERVER);
    const [p, from] = await nextPacket(inbox);
    assert.deepEqual(p.op === 'data' && [...p.data], [0x61, 0x0d, 0x0a, 0x62, 0x0d, 0x0a]);
    sock.send(encodeTftp({ op: 'ack', block: 1 }), from);
    sock.close();
  });
});

test('close() aborts running transfers and closes their files', async () => {
  const net = createMemoryNetwork();
  const { source, openFiles } = mapSource({ f: pattern(50_000) });
  const server = await startTftpServer({
    config: { ...defaultTftpConfig, address: SERVER.address },
    source,
    port: 69,
    sockets: net.bind,
  });
  const { sock, inbox } = await openClient(net);
  sock.send(encodeTftp({ op: 'rrq', filename: 'f', mode: 'octet', options: [] }), SERVER);
  await nextPacket(inbox);
  assert.equal(server.activeTransfers, 1);
  await server.close();
  assert.equal(openFiles(), 0);
  assert.deepEqual([...net.open], [`10.0.0.2:${sock.local.port}`]);
  sock.close();
});
