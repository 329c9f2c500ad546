import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode } from '../../error/kiln-error.js';
import { loadOrCreateSshCa } from './ssh-ca.js';
import { signHostCertificate, signUserCertificate, sshForever } from './ssh-certificate.js';
import { SshReader, SshWriter } from './ssh-wire.js';

const hostKey = `ssh-ed25519 ${Buffer.from(new SshWriter().string('ssh-ed25519').string(new Uint8Array(32).fill(9)).bytes()).toString('base64')} root@n1`;
const fixed = (n: number) => new Uint8Array(n).fill(0xab);

/** Decodes a certificate line the way PROTOCOL.certkeys lays it out (ed25519 subject). */
function decode(line: string) {
  const [type, b64] = line.split(' ');
  const blob = new Uint8Array(Buffer.from(b64, 'base64'));
  const r = new SshReader(blob, 'cert');
  const strings = (b: Uint8Array) => {
    const rr = new SshReader(b, 'list');
    const out: string[] = [];
    while (rr.remaining) out.push(rr.text());
    return out;
  };
  const c = {
    type,
    name: r.text(),
    nonce: r.string(),
    pk: r.string(),
    serial: r.uint64(),
    certType: r.uint32(),
    keyId: r.text(),
    principals: strings(r.string()),
    validAfter: r.uint64(),
    validBefore: r.uint64(),
    critical: strings(r.string()),
    extensions: strings(r.string()),
    reserved: r.string(),
    signatureKey: r.string(),
  };
  const signed = blob.subarray(0, blob.length - r.remaining);
  const sig = new SshReader(r.string(), 'sig');
  r.end();
  return { ...c, signed, sigAlg: sig.text(), sig: sig.string() };
}

test('a host certificate carries every field and a valid CA signature', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-cert-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateSshCa(dir);
  const line = signHostCertificate({
    ca,
    publicKeyLine: hostKey,
    principals: ['n1.lab', '10.0.0.5'],
    serial: 42n,
    keyId: 'host:n1',
    validAfter: new Date('2025-01-01T00:00:00.900Z'),
    validBefore: new Date('2026-01-01T00:00:00Z'),
    random: fixed,
  });
  const c = decode(line);
  assert.equal(c.type, 'ssh-ed25519-cert-v01@openssh.com');
  assert.equal(c.name, c.type);
  assert.deepEqual([...c.nonce], [...fixed(32)]);
  assert.deepEqual([...c.pk], new Array(32).fill(9));
  assert.equal(c.serial, 42n);
  assert.equal(c.certType, 2);
  assert.equal(c.keyId, 'host:n1');
  assert.deepEqual(c.principals, ['n1.lab', '10.0.0.5']);
  assert.equal(c.validAfter, BigInt(Date.parse('2025-01-01T00:00:00Z') / 1000));
  assert.equal(c.validBefore, BigInt(Date.parse('2026-01-01T00:00:00Z') / 1000));
  assert.deepEqual(c.critical, []);
  assert.deepEqual(c.extensions, []);
  assert.equal(c.reserved.length, 0);
  assert.deepEqual([...c.signatureKey], [...ca.publicKey.blob]);
  assert.equal(c.sigAlg, 'ssh-ed25519');
  assert.ok(verify(null, c.signed, createPublicKey(ca.privateKey), c.sig));
  assert.equal(line.split(' ')[2], 'host:n1');
});

test('a user certificate has sorted extensions and critical options; forever validity', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-cert-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateSshCa(dir);
  const c = decode(
    signUserCertificate({
      ca,
      publicKeyLine: hostKey,
      principals: ['root'],
      serial: 1,
      keyId: 'user:alice',
      validAfter: new Date(0),
      validBefore: 'forever',
      extensions: ['permit-pty', 'permit-agent-forwarding'],
      forceCommand: '/bin/true',
      sourceAddress: '10.0.0.0/8',
    }),
  );
  assert.equal(c.certType, 1);
  assert.equal(c.validBefore, sshForever);
  // name/data pairs: empty data decodes as an empty string
  assert.deepEqual(c.extensions, ['permit-agent-forwarding', '', 'permit-pty', '']);
  assert.equal(c.critical[0], 'force-command');
  assert.equal(c.critical[2], 'source-address');
});

test('refuses requests that would make a dangerous or unrevocable certificate', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-cert-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateSshCa(dir);
  const base = {
    ca,
    publicKeyLine: hostKey,
    principals: ['n1'],
    serial: 5,
    keyId: 'k',
    validAfter: new Date(1000),
    validBefore: new Date(5000_000),
  };
  const bad = (over: object, path: string) =>
    assert.throws(
      () => signHostCertificate({ ...base, ...over }),
      (e) => hasCode(e, 'validation_failed') && e.issues.some((i) => i.path === path),
    );
  bad({ principals: [] }, 'principals');
  bad({ principals: ['a b'] }, 'principals/0');
  bad({ principals: ['a,b'] }, 'principals/0');
  bad({ serial: 0 }, 'serial');
  bad({ serial: 2n ** 64n }, 'serial');
  bad({ keyId: '' }, 'keyId');
  bad({ validBefore: new Date(1000) }, 'validBefore');
  assert.throws(
    () => signHostCertificate({ ...base, publicKeyLine: 'ssh-ed25519 AAAA' }),
    (e) => hasCode(e, 'validation_failed'),
  );
});
