import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeNetascii, encodeNetascii } from './netascii.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('LF becomes CR LF and a bare CR becomes CR NUL (RFC 764)', () => {
  assert.deepEqual(encodeNetascii(enc('a\nb\rc')), Uint8Array.from([0x61, 0x0d, 0x0a, 0x62, 0x0d, 0x00, 0x63]));
});

test('property: decodeNetascii inverts encodeNetascii', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      assert.deepEqual(decodeNetascii(encodeNetascii(b)), b);
    }),
    { numRuns: 1000 },
  );
});
