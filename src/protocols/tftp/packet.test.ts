import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeTftp, encodeTftp, writeDataHeader, type TftpPacket } from './packet.js';
import { DecodeError } from '../decode-error.js';
import { summarizeTftp } from './summarize.js';

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

test('decodes an RRQ with options (hand-built fixture)', () => {
  const bytes = Uint8Array.from([
    0x00,
    0x01, // opcode 1 = RRQ
    ...ascii('pxelinux.0'),
    0x00, // filename
    ...ascii('octet'),
    0x00, // mode
    ...ascii('blksize'),
    0x00,
    ...ascii('1468'),
    0x00, // RFC 2348 option
    ...ascii('tsize'),
    0x00,
    ...ascii('0'),
    0x00, // RFC 2349 option
  ]);
  const p = decodeTftp(bytes);
  assert.deepEqual(p, {
    op: 'rrq',
    filename: 'pxelinux.0',
    mode: 'octet',
    options: [
      { name: 'blksize', value: '1468' },
      { name: 'tsize', value: '0' },
    ],
  });
  assert.equal(summarizeTftp(p), 'RRQ "pxelinux.0" mode="octet" blksize="1468" tsize="0"');
  assert.deepEqual(encodeTftp(p), bytes);
});

test('decodes DATA, ACK, ERROR and OACK (hand-built fixtures)', () => {
  const data = decodeTftp(Uint8Array.from([0x00, 0x03, /* block */ 0x01, 0x02, /* data */ 0xde, 0xad]));
  assert.equal(summarizeTftp(data), 'DATA block=258 len=2');
  assert.deepEqual(decodeTftp(Uint8Array.from([0x00, 0x04, 0xff, 0xff])), { op: 'ack', block: 65535 });
  const err = decodeTftp(Uint8Array.from([0x00, 0x05, /* code */ 0x00, 0x01, ...ascii('nope'), 0x00]));
  assert.equal(summarizeTftp(err), 'ERROR code=1(fileNotFound) message="nope"');
  const oack = decodeTftp(Uint8Array.from([0x00, 0x06, ...ascii('windowsize'), 0x00, ...ascii('16'), 0x00]));
  assert.equal(summarizeTftp(oack), 'OACK windowsize="16"');
});

test('tolerates an ERROR without its NUL and NUL padding after a request', () => {
  assert.deepEqual(decodeTftp(Uint8Array.from([0, 5, 0, 2, ...ascii('x')])), { op: 'error', code: 2, message: 'x' });
  const padded = Uint8Array.from([0, 1, ...ascii('f'), 0, ...ascii('octet'), 0, 0, 0, 0]);
  assert.deepEqual(decodeTftp(padded), { op: 'rrq', filename: 'f', mode: 'octet', options: [] });
});

test('rejects malformed packets with a typed DecodeError naming the field and offset', () => {
  const cases: Array<[string, number[], string, number, string]> = [
    ['empty', [], 'too_short', 0, 'opcode'],
    ['one byte', [0], 'too_short', 1, 'opcode'],
    ['unknown opcode', [0, 9, 0, 0], 'bad_opcode', 0, 'opcode'],
    ['short ACK', [0, 4, 1], 'too_short', 3, 'block'],
    ['short DATA', [0, 3], 'too_short', 2, 'block'],
    ['unterminated filename', [0, 1, 0x61], 'unterminated_string', 2, 'filename'],
    ['missing mode', [0, 1, 0x61, 0], 'unterminated_string', 4, 'mode'],
    ['option without value', [0, 1, 0x61, 0, 0x62, 0, 0x63, 0], 'unterminated_string', 8, 'option c value'],
    ['empty option name', [0, 6, 0, 0x31, 0], 'bad_option', 2, 'option name'],
  ];
  for (const [name, bytes, code, offset, field] of cases) {
    assert.throws(
      () => decodeTftp(Uint8Array.from(bytes)),
      (e: unknown) => {
        assert.ok(e instanceof DecodeError, name);
        assert.deepEqual([e.code, e.offset, e.field], [code, offset, field], name);
        return true;
      },
    );
  }
});

test('encode rejects values the wire cannot carry', () => {
  assert.throws(() => encodeTftp({ op: 'ack', block: 65536 }), RangeError);
  assert.throws(() => encodeTftp({ op: 'rrq', filename: 'a\0b', mode: 'octet', options: [] }), RangeError);
  assert.throws(() => encodeTftp({ op: 'error', code: 1, message: 'snow ☃' }), RangeError);
});

test('writeDataHeader matches encodeTftp and wraps block numbers at 16 bits', () => {
  const out = new Uint8Array(6);
  writeDataHeader(out, 65536 + 7);
  out.set([9, 9], 4);
  assert.deepEqual(out, encodeTftp({ op: 'data', block: 7, data: Uint8Array.of(9, 9) }));
});

const wireString = fc.string({
  unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});
const np = { noNullPrototype: true } as const;
const option = fc.record({ name: wireString.filter((s) => s.length > 0), value: wireString }, np);
const packetArb: fc.Arbitrary<TftpPacket> = fc.oneof(
  fc.record(
    {
      op: fc.constantFrom('rrq' as const, 'wrq' as const),
      filename: wireString,
      mode: wireString,
      options: fc.array(option, { maxLength: 5 }),
    },
    np,
  ),
  fc.record(
    {
      op: fc.constant('data' as const),
      block: fc.integer({ min: 0, max: 65535 }),
      data: fc.uint8Array({ maxLength: 1500 }),
    },
    np,
  ),
  fc.record({ op: fc.constant('ack' as const), block: fc.integer({ min: 0, max: 65535 }) }, np),
  fc.record({ op: fc.constant('error' as const), code: fc.integer({ min: 0, max: 65535 }), message: wireString }, np),
  fc.record({ op: fc.constant('oack' as const), options: fc.array(option, { maxLength: 5 }) }, np),
);

test('property: decode(encode(p)) equals p for generated packets', () => {
  fc.assert(
    fc.property(packetArb, (p) => {
      const decoded = decodeTftp(encodeTftp(p));
      // A request whose mode is empty and has no options still round-trips; data compares by bytes.
      assert.deepEqual(decoded, p);
    }),
    { numRuns: 2000 },
  );
});

test('fuzz: random and truncated bytes either decode or throw DecodeError, never anything else', () => {
  const check = (bytes: Uint8Array): void => {
    try {
      const p = decodeTftp(bytes);
      assert.equal(typeof summarizeTftp(p), 'string');
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      assert.ok(e.offset >= 0 && e.offset <= bytes.length);
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => check(b)),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(packetArb, fc.nat(), (p, cut) => {
      const bytes = encodeTftp(p);
      check(bytes.subarray(0, cut % (bytes.length + 1)));
    }),
    { numRuns: 3000 },
  );
});
