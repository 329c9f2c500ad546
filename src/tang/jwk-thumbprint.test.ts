import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jwkThumbprint } from './jwk-thumbprint.js';

test('RFC 7638 section 3.1: the RSA example key gives the RFC thumbprint', () => {
  const jwk = {
    kty: 'RSA',
    n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    e: 'AQAB',
    alg: 'RS256',
    kid: '2011-04-29',
  };
  assert.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
});

test('an EC key: only crv, kty, x, y count, in lexical order; private and extra members change nothing', () => {
  const pub = { kty: 'EC', crv: 'P-521', x: 'AX', y: 'AY' };
  const withPrivate = { alg: 'ES512', key_ops: ['sign', 'verify'], d: 'secret', ...pub };
  assert.equal(jwkThumbprint(withPrivate), jwkThumbprint(pub));
  // printf '{"crv":"P-521","kty":"EC","x":"AX","y":"AY"}' | openssl dgst -sha256 -binary | basenc --base64url
  assert.equal(jwkThumbprint(pub), 'XM-ydBaLhEANwHJos703j_Extto-ovkkIHF0OUBc1wQ');
});

test('an unknown key type or a missing member is a RangeError naming it', () => {
  assert.throws(() => jwkThumbprint({ kty: 'XX' }), /key type "XX"/);
  assert.throws(() => jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'a' }), /has no "y"/);
});
