// Property tests of the syslog codec and deframer: whatever bytes arrive, nothing
// throws, the raw bytes are kept, memory stays bounded; and an RFC 5424 message
// built from random valid fields decodes back to those fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SYSLOG_MAX_MESSAGE_OCTETS } from './codes.js';
import { decodeSyslog } from './decode.js';
import { createSyslogDeframer } from './deframe.js';
import { encodeSyslog5424, type Rfc5424Input } from './rfc5424.js';
import { summarizeSyslog } from './summarize.js';
import { sanitizeForDisplay } from './display-text.js';
import type { SyslogTimestamp } from './message.js';

const enc = (s: string) => new TextEncoder().encode(s);
const seeds = [
  '<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 [x@1 a="b\\"c"][y k="v"] \uFEFFhello',
  '<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - text',
  "<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
  '<28>Dec  6 04:52:35 bbtag: busybox says hello\n',
  '<30>Dec  6 04:52:35 udhcpc[311]: lease',
].map(enc);

/** Hostile input: random bytes, random text around syslog punctuation, or a real message with bytes overwritten. */
const hostile = fc.oneof(
  fc.uint8Array({ maxLength: 400 }),
  fc
    .array(
      fc.constantFrom('<', '>', '1', ' ', '-', '[', ']', '"', '\\', '=', ':', 'a', 'T', 'Z', '\n', '\uFEFF', '13'),
      {
        maxLength: 80,
      },
    )
    .map((parts) => enc(parts.join(''))),
  fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(200), fc.nat(255)), { minLength: 1, maxLength: 6 }))
    .map(([seed, edits]) => {
      const b = Uint8Array.from(seed);
      for (const [at, v] of edits) b[at % b.length] = v;
      return b;
    }),
  fc.tuple(fc.constantFrom(...seeds), fc.nat(120)).map(([seed, cut]) => seed.subarray(0, cut)),
);

test('fuzz: decodeSyslog never throws, keeps the raw bytes, and gives a printable summary', () => {
  fc.assert(
    fc.property(hostile, (bytes) => {
      const m = decodeSyslog(bytes);
      assert.deepEqual(m.raw, bytes);
      assert.ok(m.facility >= 0 && m.facility <= 23 && m.severity >= 0 && m.severity <= 7);
      assert.equal(typeof summarizeSyslog(m), 'string');
      assert.equal(typeof sanitizeForDisplay(m.text), 'string');
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: the deframer never throws and never holds more than the cap, however the stream is cut', () => {
  const max = 64;
  fc.assert(
    fc.property(fc.array(fc.oneof(hostile, fc.uint8Array({ maxLength: 200 })), { maxLength: 10 }), (chunks) => {
      const d = createSyslogDeframer(max);
      for (const c of chunks) {
        const r = d.push(c);
        for (const f of r.frames) assert.ok(f.bytes.length <= max);
        if (r.error) assert.equal(r.error.code, 'bad_frame_length');
      }
      for (const f of d.end()) assert.ok(f.bytes.length <= max);
    }),
  );
});

test('fuzz: an oversize datagram is cut at the cap, never kept whole', () => {
  const m = decodeSyslog(new Uint8Array(SYSLOG_MAX_MESSAGE_OCTETS * 2).fill(0x41));
  assert.equal(m.raw.length, SYSLOG_MAX_MESSAGE_OCTETS);
});

// RFC 5424 §6: header fields are 1*n PRINTUSASCII; "-" alone is NILVALUE, so it stands for "absent".
const printUsAscii = (max: number) =>
  fc
    .string({
      unit: fc.integer({ min: 33, max: 126 }).map((c) => String.fromCharCode(c)),
      minLength: 1,
      maxLength: max,
    })
    .filter((s) => s !== '-');
const sdName = fc.string({
  unit: fc
    .integer({ min: 33, max: 126 })
    .filter((c) => c !== 0x3d && c !== 0x5d && c !== 0x22)
    .map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 32,
});
const timestamp: fc.Arbitrary<SyslogTimestamp> = fc
  .tuple(
    fc.date({ min: new Date('0001-01-02T00:00:00Z'), max: new Date('9999-12-30T23:59:59Z'), noInvalidDate: true }),
    fc.integer({ min: 0, max: 6 }),
    fc.integer({ min: 0, max: 999 }),
    fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
    fc.boolean(),
  )
  .map(([d, digits, micro, offset, zulu]) => {
    const off = zulu ? 0 : offset;
    const local = new Date(d.getTime() + off * 60_000).toISOString(); // wall time at that offset
    const ms = local.slice(20, 23) + String(micro).padStart(3, '0');
    const frac = digits === 0 ? '' : `.${ms.slice(0, digits)}`;
    const abs = Math.abs(off);
    const zone = zulu
      ? 'Z'
      : `${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    const text = `${local.slice(0, 19)}${frac}${zone}`;
    const msInFrac = digits === 0 ? 0 : Math.floor(Number(ms.slice(0, digits).padEnd(6, '0')) / 1000);
    const epochMs = Math.floor(d.getTime() / 1000) * 1000 + msInFrac;
    return { kind: 'rfc3339', text, epochMs, offsetMinutes: off };
  });
// MSG: any Unicode text; a trailer (LF, CR, NUL) at the end is framing, and a leading U+FEFF is the BOM.
const msgText = fc
  .string({ unit: 'grapheme', maxLength: 60 })
  .filter((s) => !/[\r\n\0]$/.test(s) && !s.startsWith('\uFEFF'));

const message: fc.Arbitrary<Rfc5424Input> = fc.record(
  {
    facility: fc.integer({ min: 0, max: 23 }),
    severity: fc.integer({ min: 0, max: 7 }),
    timestamp,
    hostname: printUsAscii(255),
    appName: printUsAscii(48),
    procId: printUsAscii(128),
    msgId: printUsAscii(32),
    structuredData: fc.array(
      fc.record(
        {
          id: sdName,
          params: fc.array(
            fc.record(
              { name: sdName, value: fc.string({ unit: 'grapheme', maxLength: 20 }) },
              { noNullPrototype: true },
            ),
            {
              maxLength: 3,
            },
          ),
        },
        { noNullPrototype: true },
      ),
      { maxLength: 3 },
    ),
    bom: fc.boolean(),
    text: msgText,
  },
  { requiredKeys: ['facility', 'severity', 'structuredData', 'bom', 'text'], noNullPrototype: true },
);

test('fuzz: an RFC 5424 message built from random fields round-trips through encode and decode', () => {
  fc.assert(
    fc.property(message, (input) => {
      const bytes = encodeSyslog5424(input);
      const m = decodeSyslog(bytes);
      const { raw, defects, format, ...fields } = m;
      assert.deepEqual(defects, []);
      assert.equal(format, 'rfc5424');
      assert.deepEqual(raw, bytes);
      assert.deepEqual(fields, input);
    }),
    { numRuns: 2000 },
  );
});
