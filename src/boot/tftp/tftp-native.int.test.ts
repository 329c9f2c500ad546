// The native engine's protocol behaviour (native/tftp-pump), driven by a raw
// UDP client on 127.0.0.1 that loses, skips and repeats ACKs on purpose.
// The same cases run against the TypeScript engine on in-memory sockets in
// tftp-server.test.ts; here each one meets the C loop over real sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeTftp, encodeTftp, type TftpPacket } from '../../protocols/tftp/packet.js';
import { createDirectorySource } from './directory-source.js';
import { defaultTftpConfig } from './tftp-config.js';
import { loadTftpPump } from './tftp-pump.js';
import { startTftpServer, type TftpServer } from './tftp-server.js';
import type { TftpTransferOutcome } from './tftp-transfer.js';

const skip = 'addon' in loadTftpPump() ? false : 'native/tftp-pump is not built (npm ci builds it)';
const RETRANSMIT_MS = 100;
let dir = '';
let server: TftpServer;
const ends: Array<{ outcome: TftpTransferOutcome; bytes: number }> = [];
const file = randomBytes(40_000);
/** 65536 + 3 blocks of 8 bytes: the block number wraps once. */
const wrapFile = randomBytes(8 * 65539 + 5);

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'kiln-tftp-native-'));
  writeFileSync(join(dir, 'f.bin'), file);
  writeFileSync(join(dir, 'wrap.bin'), wrapFile);
  server = await startTftpServer({
    config: {
      ...defaultTftpConfig,
      address: '127.0.0.1',
      retransmitMs: RETRANSMIT_MS,
      maxRetries: 2,
      engine: 'native',
    },
    source: await createDirectorySource(dir),
    port: 0,
    onTransferEnd: (e) => ends.push({ outcome: e.outcome, bytes: e.bytes }),
  });
  assert.equal(server.engine, 'native');
});

after(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A raw client: a queue of decoded packets with their source port, and a bounded wait for the next. */
interface RawClient {
  /** Sends and waits until the datagram has left (closing right after a bare send() can drop it). */
  send: (bytes: Uint8Array, port: number) => Promise<void>;
  next: (ms?: number) => Promise<{ p: TftpPacket; port: number } | null>;
  close: () => void;
}

async function client(): Promise<RawClient> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const queue: Array<{ p: TftpPacket; port: number }> = [];
  let wake: (() => void) | null = null;
  sock.on('message', (m, rinfo) => {
    queue.push({ p: decodeTftp(m), port: rinfo.port });
    wake?.();
  });
  const next = async (ms = 2000): Promise<{ p: TftpPacket; port: number } | null> => {
    const deadline = Date.now() + ms;
    while (queue.length === 0 && Date.now() < deadline) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.max(1, deadline - Date.now()));
      });
      wake = null;
    }
    return queue.shift() ?? null;
  };
  const send = (bytes: Uint8Array, port: number): Promise<void> =>
    new Promise((resolve, reject) => sock.send(bytes, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  return { send, next, close: () => sock.close() };
}

const rrq = (filename: string, options: Array<{ name: string; value: string }>): Uint8Array =>
  encodeTftp({ op: 'rrq', filename, mode: 'octet', options });
const ack = (block: number): Uint8Array => encodeTftp({ op: 'ack', block });

async function waitEnds(n: number): Promise<void> {
  const until = Date.now() + 5000;
  while (ends.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
}

test('OACK first; a lost ACK is retransmitted by the timer only, never on a duplicate ACK', { skip }, async () => {
  const c = await client();
  const start = ends.length;
  try {
    await c.send(
      rrq('f.bin', [
        { name: 'blksize', value: '1000' },
        { name: 'tsize', value: '0' },
      ]),
      server.address.port,
    );
    const oack = await c.next();
    assert.equal(oack?.p.op, 'oack');
    assert.deepEqual(oack.p.op === 'oack' && oack.p.options, [
      { name: 'blksize', value: '1000' },
      { name: 'tsize', value: String(file.length) },
    ]);
    const tid = oack.port;
    // Not acknowledging the OACK: it comes again after the timeout (RFC 2347 + RFC 1350 retransmission).
    const again = await c.next(RETRANSMIT_MS * 4);
    assert.equal(again?.p.op, 'oack');
    await c.send(ack(0), tid);
    const d1 = await c.next();
    assert.ok(d1?.p.op === 'data' && d1.p.block === 1 && d1.p.data.length === 1000);
    await c.send(ack(1), tid);
    const d2 = await c.next();
    assert.ok(d2?.p.op === 'data' && d2.p.block === 2);
    // A duplicate ACK 1 must not resend block 2 at once (RFC 1123 §4.2.3.1); only the timer does, later.
    await c.send(ack(1), tid);
    const t0 = Date.now();
    const d2b = await c.next(RETRANSMIT_MS * 4);
    assert.ok(d2b?.p.op === 'data' && d2b.p.block === 2);
    assert.ok(
      Date.now() - t0 >= RETRANSMIT_MS * 0.7,
      `block 2 resent after ${Date.now() - t0} ms: on the duplicate ACK, not the timer`,
    );
    // Finish: 40 blocks of 1000 bytes and an empty 41st.
    const got = [d1.p.data, d2.p.data];
    for (let b = 2; b <= 40; b++) {
      await c.send(ack(b), tid);
      for (;;) {
        const d = await c.next();
        assert.ok(d?.p.op === 'data', `block ${b + 1} arrived`);
        if (d.p.block === b + 1) {
          got.push(d.p.data);
          break;
        }
      }
    }
    assert.equal(got[40].length, 0);
    await c.send(ack(41), tid);
    assert.deepEqual(Buffer.concat(got), file);
    await waitEnds(start + 1);
    assert.deepEqual(ends.slice(start), [{ outcome: 'complete', bytes: file.length }]);
  } finally {
    c.close();
  }
});

test(
  'windowsize 8: an ACK inside the window resumes after the acknowledged block (RFC 7440 §4)',
  { skip },
  async () => {
    const c = await client();
    const start = ends.length;
    try {
      await c.send(
        rrq('f.bin', [
          { name: 'blksize', value: '1000' },
          { name: 'windowsize', value: '8' },
        ]),
        server.address.port,
      );
      const oack = await c.next();
      assert.equal(oack?.p.op, 'oack');
      await c.send(ack(0), oack.port);
      const first: number[] = [];
      for (let i = 0; i < 8; i++) {
        const d = await c.next();
        if (d?.p.op === 'data') first.push(d.p.block);
      }
      assert.deepEqual(first, [1, 2, 3, 4, 5, 6, 7, 8]);
      // Pretend block 4 was lost: acknowledge 3; the next window is 4..11.
      await c.send(ack(3), oack.port);
      const second: number[] = [];
      for (let i = 0; i < 8; i++) {
        const d = await c.next();
        if (d?.p.op === 'data') second.push(d.p.block);
      }
      assert.deepEqual(second, [4, 5, 6, 7, 8, 9, 10, 11]);
      await c.send(encodeTftp({ op: 'error', code: 0, message: 'test done' }), oack.port);
      await waitEnds(start + 1);
      assert.deepEqual(
        ends.slice(start).map((e) => e.outcome),
        ['peer_error'],
      );
    } finally {
      c.close();
    }
  },
);

test(
  'block numbers wrap at 65535 -> 0 and the whole file arrives (blksize 8, windowsize 64)',
  { skip, timeout: 60_000 },
  async () => {
    const c = await client();
    const start = ends.length;
    try {
      await c.send(
        rrq('wrap.bin', [
          { name: 'blksize', value: '8' },
          { name: 'windowsize', value: '64' },
        ]),
        server.address.port,
      );
      const oack = await c.next();
      assert.equal(oack?.p.op, 'oack');
      const tid = oack.port;
      await c.send(ack(0), tid);
      const parts: Buffer[] = [];
      let expect = 1; // unwrapped number of the next block wanted
      const last = Math.floor(wrapFile.length / 8) + 1;
      let sawZero = false;
      for (let inWindow = 0; expect <= last;) {
        const d = await c.next();
        assert.ok(d?.p.op === 'data', `block ${expect} arrived`);
        if (d.p.block !== (expect & 0xffff)) continue; // a retransmitted window: skip until the wanted block
        if (d.p.block === 0) sawZero = true;
        parts.push(Buffer.from(d.p.data));
        expect++;
        if (++inWindow === 64 || expect > last) {
          await c.send(ack((expect - 1) & 0xffff), tid);
          inWindow = 0;
        }
      }
      assert.ok(sawZero, 'block 65536 went out as block 0');
      assert.deepEqual(Buffer.concat(parts), wrapFile);
      await waitEnds(start + 1);
      assert.deepEqual(ends.slice(start), [{ outcome: 'complete', bytes: wrapFile.length }]);
    } finally {
      c.close();
    }
  },
);

test(
  'a client ERROR ends the transfer (peer_error); a silent client ends in timeout; no descriptor is left',
  { skip },
  async () => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const baseline = fds();
    const start = ends.length;
    const c = await client();
    try {
      await c.send(rrq('f.bin', []), server.address.port);
      const d1 = await c.next();
      assert.ok(d1?.p.op === 'data' && d1.p.block === 1 && d1.p.data.length === 512);
      await c.send(encodeTftp({ op: 'error', code: 0, message: 'user cancelled' }), d1.port);
      // RFC 1350 §7: the ERROR is not answered and nothing more is sent.
      assert.equal(await c.next(RETRANSMIT_MS * 3), null);
      await c.send(rrq('f.bin', []), server.address.port);
      assert.ok((await c.next())?.p.op === 'data');
      // Silent from here: 100 + 200 + 400 ms of back-off (2 retries), then dropped.
      await waitEnds(start + 2);
      // Neither delivered the file, so neither reports its bytes.
      assert.deepEqual(ends.slice(start), [
        { outcome: 'peer_error', bytes: 0 },
        { outcome: 'timeout', bytes: 0 },
      ]);
      assert.equal(server.activeTransfers, 0);
    } finally {
      c.close();
    }
    assert.equal(fds(), baseline, 'transfer sockets and files are closed');
  },
);

/** Nice values of this process's threads (proc(5): field 19 of /proc/self/task/<tid>/stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
    } catch {
      return [];
    } // the thread ended between readdir and read
  });
}

test(
  'nativeNice: a running transfer thread has the configured nice value; the controller thread keeps its own',
  { skip },
  async () => {
    const own = await startTftpServer({
      config: {
        ...defaultTftpConfig,
        address: '127.0.0.1',
        retransmitMs: 5000,
        maxRetries: 5,
        engine: 'native',
        nativeNice: 7,
      },
      source: await createDirectorySource(dir),
      port: 0,
    });
    const c = await client();
    const mainNice = (): number => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[16]);
    const before = mainNice();
    try {
      assert.ok(!threadNices().includes(7), 'no thread at nice 7 before the transfer');
      await c.send(rrq('f.bin', []), own.address.port);
      assert.ok((await c.next())?.p.op === 'data');
      // The pump thread sets its nice value first thing; it is waiting for ACK 1 now.
      assert.equal(threadNices().filter((n) => n === 7).length, 1, 'exactly the one transfer thread runs at nice 7');
      assert.equal(mainNice(), before, 'the main thread is not reniced');
    } finally {
      c.close();
      await own.close();
    }
  },
);

test('close() aborts a running native transfer promptly', { skip }, async () => {
  const own = await startTftpServer({
    config: { ...defaultTftpConfig, address: '127.0.0.1', retransmitMs: 5000, maxRetries: 5, engine: 'native' },
    source: await createDirectorySource(dir),
    port: 0,
  });
  const c = await client();
  try {
    await c.send(rrq('f.bin', []), own.address.port);
    assert.ok((await c.next())?.p.op === 'data');
    assert.equal(own.activeTransfers, 1);
    const t0 = Date.now();
    await own.close();
    assert.ok(Date.now() - t0 < 2000, `close took ${Date.now() - t0} ms (the 5 s retransmit timer must not hold it)`);
    assert.equal(own.activeTransfers, 0);
  } finally {
    c.close();
  }
});

test(
  'fuzz: random, truncated and forged packets from the client at running native transfers end them cleanly; nothing leaks; the server still serves',
  { skip, timeout: 60_000 },
  async () => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const baseline = fds();
    const start = ends.length;
    // Deterministic corpus (fixed seed), 40 transfers at once: blksize x windowsize x hostile datagrams sent after the first packet.
    const cases = fc.sample(
      fc.record({
        blksize: fc.constantFrom(8, 512, 1468),
        windowsize: fc.constantFrom(1, 4, 16),
        shots: fc.array(
          fc.oneof(
            fc.uint8Array({ minLength: 0, maxLength: 70 }),
            fc.tuple(fc.nat(0xffff), fc.nat(4)).map(([b, cut]) => ack(b).subarray(0, cut)),
            fc.nat(0xffff).map((b) => ack(b)),
            fc
              .tuple(fc.constantFrom(1, 2, 3, 5, 6, 7, 0xff), fc.uint8Array({ maxLength: 20 }))
              .map(([op, rest]) => Uint8Array.of(0, op, ...rest)),
          ),
          { minLength: 1, maxLength: 8 },
        ),
      }),
      { numRuns: 40, seed: 7440 },
    );
    const clients = await Promise.all(cases.map(() => client()));
    try {
      await Promise.all(
        cases.map(async (k, i) => {
          const c = clients[i];
          await c.send(
            rrq('f.bin', [
              { name: 'blksize', value: String(k.blksize) },
              { name: 'windowsize', value: String(k.windowsize) },
            ]),
            server.address.port,
          );
          const oack = await c.next();
          assert.equal(oack?.p.op, 'oack');
          await c.send(ack(0), oack.port);
          for (const bytes of k.shots) await c.send(bytes, oack.port);
          // Then silent: the transfer completes (a forged ACK of the last block), ends on a forged ERROR, or times out.
        }),
      );
      await waitEnds(start + cases.length);
      const outcomes = ends.slice(start).map((e) => e.outcome);
      assert.equal(outcomes.length, cases.length, `every transfer ended: ${outcomes.join(',')}`);
      assert.ok(
        outcomes.every((o) => o === 'complete' || o === 'peer_error' || o === 'timeout'),
        outcomes.join(','),
      );
      assert.equal(server.activeTransfers, 0);
    } finally {
      for (const c of clients) c.close();
    }
    assert.equal(fds(), baseline, 'transfer sockets and files are closed');
    // The server (and its native engine) still serves a whole file to a well-behaved client.
    const c = await client();
    try {
      await c.send(rrq('f.bin', [{ name: 'blksize', value: '1468' }]), server.address.port);
      const oack = await c.next();
      assert.equal(oack?.p.op, 'oack');
      await c.send(ack(0), oack.port);
      const parts: Buffer[] = [];
      for (let b = 1; ; b++) {
        const d = await c.next();
        assert.ok(d?.p.op === 'data' && d.p.block === b, `block ${b} arrived`);
        parts.push(Buffer.from(d.p.data));
        await c.send(ack(b), oack.port);
        if (d.p.data.length < 1468) break;
      }
      assert.deepEqual(Buffer.concat(parts), file);
    } finally {
      c.close();
    }
  },
);

test(
  'a client that went away before its first ACK (port unreachable) frees its transfer at the next retransmission, not after the whole back-off',
  { skip },
  async () => {
    // Retransmits at 1, 2, 4, 8, 16 s: the back-off alone would hold the slot 31 s and more.
    const gone: Array<{ outcome: TftpTransferOutcome; at: number }> = [];
    const slow = await startTftpServer({
      config: { ...defaultTftpConfig, address: '127.0.0.1', retransmitMs: 1000, maxRetries: 5, engine: 'native' },
      source: await createDirectorySource(dir),
      port: 0,
      onTransferEnd: (e) => gone.push({ outcome: e.outcome, at: Date.now() }),
    });
    try {
      const c = await client();
      await c.send(rrq('f.bin', []), slow.address.port);
      const first = await c.next();
      assert.equal(first?.p.op, 'data');
      const closedAt = Date.now();
      c.close();
      const until = Date.now() + 20_000;
      while (gone.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(gone.length, 1, 'the transfer ended');
      assert.equal(gone[0]!.outcome, 'timeout');
      // Ended by the ICMP answer to the first retransmission (1 s), well before the second retransmission's deadline (3 s).
      assert.ok(gone[0]!.at - closedAt < 2900, `ended ${gone[0]!.at - closedAt} ms after the client closed`);
    } finally {
      await slow.close();
    }
  },
);
