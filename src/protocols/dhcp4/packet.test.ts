import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeDhcp, encodeDhcp, macOf, peekMessageType, type DhcpPacket } from './packet.js';
import { DecodeError } from '../decode-error.js';
import { ClientArch, DhcpMessageType, DhcpOption } from './codes.js';
import {
  getClientArchs,
  getClientMachineId,
  getMessageType,
  getSubOptions,
  getUserClasses,
  getVendorClass,
} from './options.js';
import { summarizeDhcp } from './summarize.js';

// A hand-built PXE DISCOVER, field by field (RFC 2131 §2).
function pxeDiscover(): Uint8Array {
  const b = new Uint8Array(300);
  b.set([1, 1, 6, 0], 0); // op=BOOTREQUEST, htype=Ethernet, hlen=6, hops=0
  b.set([0xde, 0xad, 0xbe, 0xef], 4); // xid
  b.set([0, 4, 0x80, 0], 8); // secs=4, flags=broadcast
  b.set([0x52, 0x54, 0x00, 0x12, 0x34, 0x56], 28); // chaddr (MAC, then 10 zero bytes)
  b.set([99, 130, 83, 99], 236); // magic cookie
  b.set(
    [
      53,
      1,
      1, // message type DISCOVER
      93,
      2,
      0,
      7, // client arch: x64 UEFI
      94,
      3,
      1,
      3,
      16, // UNDI 3.16
      97,
      17,
      0,
      ...Array.from({ length: 16 }, (_, i) => i), // UUID, type 0
      60,
      9,
      ...Array.from('PXEClient', (c) => c.charCodeAt(0)), // vendor class
      77,
      4,
      ...Array.from('iPXE', (c) => c.charCodeAt(0)), // user class as iPXE sends it (not RFC 3004 framed)
      82,
      6,
      1,
      1,
      0x07,
      2,
      1,
      0x09, // relay agent: circuit-id 07, remote-id 09
      0,
      0, // PAD PAD
      255, // END
    ],
    240,
  );
  return b;
}

test('decodes a hand-built PXE DISCOVER field by field', () => {
  const p = decodeDhcp(pxeDiscover());
  assert.equal(p.op, 1);
  assert.equal(p.xid, 0xdeadbeef);
  assert.equal(p.flags, 0x8000);
  assert.equal(macOf(p), '52:54:00:12:34:56');
  assert.equal(getMessageType(p), DhcpMessageType.discover);
  assert.deepEqual(getClientArchs(p), [ClientArch.efiX64]);
  assert.equal(getVendorClass(p), 'PXEClient');
  assert.deepEqual(getUserClasses(p), ['iPXE']);
  assert.equal(getClientMachineId(p), '00010203-0405-0607-0809-0a0b0c0d0e0f');
  assert.deepEqual(
    getSubOptions(p, DhcpOption.relayAgentInformation).map((s) => [s.code, Array.from(s.data)]),
    [
      [1, [7]],
      [2, [9]],
    ],
  );
  assert.equal(
    summarizeDhcp(p),
    'DHCPDISCOVER xid=0xdeadbeef mac=52:54:00:12:34:56 secs=4 flags=0x8000 93=[efiX64] 94=1.3.16 ' +
      '97=00010203-0405-0607-0809-0a0b0c0d0e0f 60="PXEClient" 77="iPXE" 82={1:07 2:09}',
  );
});

test('RFC 3004 framed user classes are split; repeated options are concatenated (RFC 3396)', () => {
  const p = decodeDhcp(pxeDiscover());
  p.options.push({ code: 77, data: Uint8Array.of(2, 0x61, 0x62, 1, 0x63) });
  p.options = p.options.filter((o, i, all) => o.code !== 77 || i === all.length - 1);
  assert.deepEqual(getUserClasses(p), ['ab', 'c']);
  p.options.push({ code: 60, data: Uint8Array.from(':Arch', (c) => c.charCodeAt(0)) });
  assert.equal(getVendorClass(p), 'PXEClient:Arch');
});

test('rejects short, cookie-less and badly framed messages with a typed DecodeError', () => {
  const cases: Array<[string, Uint8Array, string, number]> = [
    ['too short', new Uint8Array(100), 'too_short', 100],
    [
      'no magic cookie',
      (() => {
        const b = pxeDiscover();
        b[236] = 0;
        return b;
      })(),
      'bad_magic',
      236,
    ],
    [
      'hlen over 16',
      (() => {
        const b = pxeDiscover();
        b[2] = 17;
        return b;
      })(),
      'bad_hlen',
      2,
    ],
    [
      'option 53 of length 2',
      (() => {
        const b = pxeDiscover();
        b.set([53, 2, 1, 1], 240);
        return b;
      })(),
      'bad_option',
      240,
    ],
    [
      'option overruns the packet',
      (() => {
        const b = pxeDiscover().slice(0, 245);
        b[241] = 1;
        b[243] = 200;
        return b;
      })(),
      'truncated_option',
      243,
    ],
  ];
  for (const [name, bytes, code, offset] of cases) {
    assert.throws(
      () => decodeDhcp(bytes),
      (e: unknown) => e instanceof DecodeError && e.code === code && e.offset === offset,
      name,
    );
  }
});

const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const text = (max: number) =>
  fc.string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: max });
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
// Option codes the decoder checks get values of the legal shape; others get any bytes.
const option = fc.oneof(
  fc.record({
    code: fc.integer({ min: 1, max: 254 }).filter((c) => ![1, 3, 6, 50, 51, 53, 54, 57, 61, 82, 93, 175].includes(c)),
    data: bytes(0, 255),
  }),
  fc.record({ code: fc.constantFrom(50, 51, 54, 1), data: bytes(4, 4) }),
  fc.record({ code: fc.constant(53), data: bytes(1, 1) }),
  fc.record({ code: fc.constant(57), data: bytes(2, 2) }),
  fc.record({
    code: fc.constant(93),
    data: fc
      .array(fc.nat(0xffff), { minLength: 1, maxLength: 4 })
      .map((a) => Uint8Array.from(a.flatMap((x) => [x >> 8, x & 0xff]))),
  }),
  fc.record({
    code: fc.constant(82),
    data: fc
      .array(fc.tuple(fc.integer({ min: 1, max: 254 }), bytes(0, 20)), { maxLength: 3 })
      .map((a) => Uint8Array.from(a.flatMap(([c, d]) => [c, d.length, ...d]))),
  }),
);
const packet: fc.Arbitrary<DhcpPacket> = fc
  .record({
    op: fc.constantFrom(1, 2),
    htype: fc.nat(255),
    hlen: fc.nat(16),
    hops: fc.nat(255),
    xid: fc.nat(0xffffffff),
    secs: fc.nat(0xffff),
    flags: fc.nat(0xffff),
    ciaddr: ip,
    yiaddr: ip,
    siaddr: ip,
    giaddr: ip,
    chaddr: bytes(16, 16),
    sname: text(63),
    file: text(127),
    options: fc.array(
      option.map((o) => ({ ...o })),
      { maxLength: 12 },
    ),
  })
  .map((p) => ({ ...p })); // fast-check records have a null prototype; deepEqual compares prototypes

test('property: encode then decode is the identity', () => {
  fc.assert(
    fc.property(packet, (p) => {
      assert.deepEqual(decodeDhcp(encodeDhcp(p)), p);
    }),
    { numRuns: 500 },
  );
});

test('property: encoded messages are at least 300 bytes (RFC 1542 §2.1) and summarize without throwing', () => {
  fc.assert(
    fc.property(packet, (p) => {
      const b = encodeDhcp(p);
      assert.ok(b.length >= 300);
      assert.equal(typeof summarizeDhcp(decodeDhcp(b)), 'string');
    }),
    { numRuns: 200 },
  );
});

test('fuzz: random, truncated and bit-flipped bytes only ever throw DecodeError', () => {
  const onlyDecodeError = (b: Uint8Array) => {
    try {
      summarizeDhcp(decodeDhcp(b));
    } catch (e) {
      assert.ok(e instanceof DecodeError, `unexpected ${String(e)}`);
    }
  };
  fc.assert(fc.property(bytes(0, 600), onlyDecodeError), { numRuns: 2000 });
  fc.assert(
    fc.property(packet, fc.nat(600), (p, cut) => onlyDecodeError(encodeDhcp(p).subarray(0, cut))),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(packet, fc.nat(10_000), fc.nat(255), (p, at, x) => {
      const b = encodeDhcp(p).slice();
      b[at % b.length] = x;
      onlyDecodeError(b);
    }),
    { numRuns: 1000 },
  );
});

test('peekMessageType reads option 53 without decoding, and gives undefined for what it cannot read', () => {
  assert.equal(peekMessageType(pxeDiscover()), DhcpMessageType.discover);
  const late = pxeDiscover();
  late.set([0, 0, 0, 12, 3, 0x6b, 0x69, 0x6c, 53, 1, 3, 255], 240); // PADs, hostname "kil", then REQUEST
  assert.equal(peekMessageType(late), DhcpMessageType.request);
  const noType = pxeDiscover();
  noType.set([255], 240);
  assert.equal(peekMessageType(noType), undefined);
  assert.equal(peekMessageType(pxeDiscover().subarray(0, 239)), undefined, 'too short');
  const noCookie = pxeDiscover();
  noCookie[236] = 0;
  assert.equal(peekMessageType(noCookie), undefined);
  const truncated = pxeDiscover().subarray(0, 242);
  truncated[241] = 9; // option 53 claims 9 bytes past the end
  assert.equal(peekMessageType(truncated), undefined);
});

test('property: peekMessageType agrees with the decoder on every message the decoder reads, and never throws', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), fc.integer({ min: 0, max: 9 }), (tail, type) => {
      const b = pxeDiscover();
      const bytes = new Uint8Array(240 + tail.length);
      bytes.set(b.subarray(0, 240));
      bytes.set(tail, 240);
      if (tail.length > 2 && type > 0) bytes.set([53, 1, type], 240);
      let decoded: number | undefined | 'error';
      try {
        decoded = getMessageType(decodeDhcp(bytes));
      } catch {
        decoded = 'error';
      }
      const peeked = peekMessageType(bytes);
      // Peek stops at the first option 53; the decoder concatenates repeats and takes the first byte: same answer.
      if (decoded !== 'error') assert.equal(peeked, decoded);
    }),
    { numRuns: 2000 },
  );
});
