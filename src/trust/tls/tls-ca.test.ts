import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode } from '../../error/kiln-error.js';
import { formatCertificateFingerprint, parseCertificateFingerprint } from './certificate-fingerprint.js';
import {
  loadOrIssueServerCertificate,
  loadServerCertificateFiles,
  serverCertificateFiles,
} from './server-certificate.js';
import { loadOrCreateTlsCa, tlsCaFiles } from './tls-ca.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const names = { dnsNames: ['kiln.lab.example', 'localhost'], ipAddresses: ['127.0.0.1', '::1'] };

test('the TLS CA is an ECDSA P-256 CA certificate with a 0600 key, loaded again unchanged', async (t) => {
  const dir = await tempDir(t);
  const ca = await loadOrCreateTlsCa(dir);
  assert.equal((await stat(join(dir, tlsCaFiles.key))).mode & 0o777, 0o600);
  const cert = new X509Certificate(await readFile(join(dir, tlsCaFiles.cert)));
  assert.ok(cert.ca);
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(cert.verify(cert.publicKey), 'self-signed');
  assert.match(cert.subject, /CN=Kiln CA/);
  assert.equal((await loadOrCreateTlsCa(dir)).certPem, ca.certPem);
  const other = join(dir, 'race');
  const [a, b] = await Promise.all([loadOrCreateTlsCa(other), loadOrCreateTlsCa(other)]);
  assert.equal(a.certPem, b.certPem, 'concurrent first starts agree on one CA');
});

test('a loose CA key, a foreign key and a damaged certificate are refused with config_invalid', async (t) => {
  const dir = await tempDir(t);
  await loadOrCreateTlsCa(dir);
  await chmod(join(dir, tlsCaFiles.key), 0o644);
  await assert.rejects(loadOrCreateTlsCa(dir), (e) => hasCode(e, 'config_invalid') && /0600/.test(e.message));
  await chmod(join(dir, tlsCaFiles.key), 0o600);
  const caPem = await readFile(join(dir, tlsCaFiles.cert), 'utf8');
  const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
  await writeFile(join(dir, tlsCaFiles.key), foreign + caPem);
  await assert.rejects(loadOrCreateTlsCa(dir), (e) => hasCode(e, 'config_invalid') && /does not match/.test(e.message));
  await writeFile(join(dir, tlsCaFiles.key), foreign);
  await assert.rejects(
    loadOrCreateTlsCa(dir),
    (e) => hasCode(e, 'config_invalid') && /followed by the CA certificate/.test(e.message),
  );
});

test('the server certificate carries the requested SANs, serverAuth, and chains to the CA', async (t) => {
  const dir = await tempDir(t);
  const ca = await loadOrCreateTlsCa(dir);
  const creds = await loadOrIssueServerCertificate(dir, ca, names);
  assert.equal((await stat(join(dir, serverCertificateFiles.key))).mode & 0o777, 0o600);
  const leaf = new X509Certificate(creds.certPem);
  const caCert = new X509Certificate(ca.certPem);
  assert.ok(!leaf.ca);
  assert.ok(leaf.checkIssued(caCert) && leaf.verify(caCert.publicKey));
  assert.deepEqual(creds.subjectAltNames, [
    'DNS:kiln.lab.example',
    'DNS:localhost',
    'IP Address:127.0.0.1',
    'IP Address:0:0:0:0:0:0:0:1',
  ]);
  assert.ok(leaf.checkHost('kiln.lab.example') && leaf.checkIP('127.0.0.1') && leaf.checkIP('::1'));
  assert.equal(leaf.checkHost('other.example'), undefined);
  assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.ok(creds.certPem.includes(ca.certPem.trim()), 'the chain includes the CA');
  assert.equal(creds.fingerprint, formatCertificateFingerprint(leaf));
});

test('the server certificate is kept while valid and reissued (same key) for a new name or near expiry', async (t) => {
  const dir = await tempDir(t);
  const ca = await loadOrCreateTlsCa(dir);
  const first = await loadOrIssueServerCertificate(dir, ca, names);
  const same = await loadOrIssueServerCertificate(dir, ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  assert.equal(same.fingerprint, first.fingerprint, 'a subset of the names needs no new certificate');
  const more = await loadOrIssueServerCertificate(dir, ca, {
    ...names,
    dnsNames: [...names.dnsNames, 'kiln2.lab.example'],
  });
  assert.notEqual(more.fingerprint, first.fingerprint);
  assert.ok(more.subjectAltNames.includes('DNS:kiln2.lab.example'));
  assert.equal(more.keyPem, first.keyPem);
  const later = await loadOrIssueServerCertificate(dir, ca, names, {
    now: () => new Date(more.notAfter.getTime() - 86400_000),
  });
  assert.notEqual(later.fingerprint, more.fingerprint);
  assert.ok(later.notAfter > more.notAfter);
});

test('bad names are refused with validation_failed naming each one', async (t) => {
  const dir = await tempDir(t);
  const ca = await loadOrCreateTlsCa(dir);
  await assert.rejects(loadOrIssueServerCertificate(dir, ca, { dnsNames: [], ipAddresses: [] }), (e) =>
    hasCode(e, 'validation_failed'),
  );
  await assert.rejects(
    loadOrIssueServerCertificate(dir, ca, { dnsNames: ['bad name', 'ok.example'], ipAddresses: ['300.1.1.1'] }),
    (e) => hasCode(e, 'validation_failed') && e.issues.map((i) => i.path).join() === 'dnsNames/0,ipAddresses/0',
  );
});

test('operator-supplied certificate files load; a mismatched key is refused', async (t) => {
  const dir = await tempDir(t);
  const ca = await loadOrCreateTlsCa(join(dir, 'kiln'));
  const creds = await loadOrIssueServerCertificate(join(dir, 'kiln'), ca, names);
  await writeFile(join(dir, 'op.pem'), creds.certPem);
  await writeFile(join(dir, 'op-key.pem'), creds.keyPem);
  const loaded = await loadServerCertificateFiles({ certFile: join(dir, 'op.pem'), keyFile: join(dir, 'op-key.pem') });
  assert.equal(loaded.fingerprint, creds.fingerprint);
  await writeFile(
    join(dir, 'other-key.pem'),
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  await assert.rejects(
    loadServerCertificateFiles({ certFile: join(dir, 'op.pem'), keyFile: join(dir, 'other-key.pem') }),
    (e) => hasCode(e, 'config_invalid') && /does not match/.test(e.message),
  );
  await assert.rejects(
    loadServerCertificateFiles({ certFile: join(dir, 'missing.pem'), keyFile: join(dir, 'op-key.pem') }),
    (e) => hasCode(e, 'config_invalid') && /cannot read/.test(e.message),
  );
});

test('fingerprints are sha256: plus 32 upper-case hex pairs; operator spellings normalise', () => {
  const fp = `sha256:${'AB:'.repeat(31)}CD`;
  assert.equal(parseCertificateFingerprint(fp.toLowerCase()), fp);
  assert.equal(parseCertificateFingerprint(`SHA256=${'ab'.repeat(31)}cd`), fp);
  assert.equal(parseCertificateFingerprint(`${'ab'.repeat(31)}cd`), fp);
  for (const bad of ['', 'sha256:AB', `sha1:${'AB:'.repeat(19)}AB`, `sha256:${'ZZ:'.repeat(31)}ZZ`]) {
    assert.throws(
      () => parseCertificateFingerprint(bad),
      (e) => hasCode(e, 'validation_failed'),
      bad,
    );
  }
});
