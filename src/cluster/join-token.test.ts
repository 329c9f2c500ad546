import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateTlsCa } from '../trust/tls/tls-ca.js';
import { formatCertificateFingerprint } from '../trust/tls/certificate-fingerprint.js';
import { caPinOf, formatJoinToken, hashJoinSecret, newJoinToken, parseJoinToken } from './join-token.js';

test('a join token round-trips, pins the CA certificate and refuses any other shape', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-jt-'));
  try {
    const ca = await loadOrCreateTlsCa(dir);
    const t = newJoinToken(ca.certPem);
    const text = formatJoinToken(t);
    assert.match(text, /^kjt1\.[0-9a-f]{12}\.[A-Za-z0-9_-]{43}\.[0-9a-f]{64}$/);
    assert.deepEqual(parseJoinToken(` ${text}\n`), t);
    // The pin is the CA certificate's SHA-256, as `openssl x509 -fingerprint -sha256` prints it.
    assert.equal(
      caPinOf(ca.certPem),
      formatCertificateFingerprint(ca.certPem).slice('sha256:'.length).replace(/:/g, '').toLowerCase(),
    );
    assert.notEqual(newJoinToken(ca.certPem).secret, t.secret);
    assert.match(hashJoinSecret(t.secret), /^[0-9a-f]{64}$/);
    for (const bad of [
      '',
      text.replace('kjt1', 'kjt2'),
      text.slice(0, -1),
      `${text}0`,
      text.toUpperCase(),
      `${text} x`,
    ])
      assert.throws(() => parseJoinToken(bad), { code: 'validation_failed' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
