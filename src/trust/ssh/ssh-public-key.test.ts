import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { hasCode } from '../../error/kiln-error.js';
import { SshWriter } from './ssh-wire.js';
import { formatSshFingerprint, formatSshPublicKey, parseSshPublicKey } from './ssh-public-key.js';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const ed = (raw: Uint8Array) => new SshWriter().string('ssh-ed25519').string(raw).bytes();

function ecdsaLine(): string {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const q = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return `ecdsa-sha2-nistp256 ${b64(new SshWriter().string('ecdsa-sha2-nistp256').string('nistp256').string(q).bytes())}`;
}

function rsaLine(bits: number): string {
  const jwk = generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' });
  const mpint = (s: string) => {
    const v = Buffer.from(s, 'base64url');
    return v[0] & 0x80 ? Buffer.concat([Buffer.of(0), v]) : v;
  };
  return `ssh-rsa ${b64(new SshWriter().string('ssh-rsa').string(mpint(jwk.e!)).string(mpint(jwk.n!)).bytes())}`;
}

const rejects = (line: string, re: RegExp) =>
  assert.throws(
    () => parseSshPublicKey(line),
    (e) => hasCode(e, 'validation_failed') && re.test(e.message),
  );

test('parses an ed25519 line with a comment and round-trips it', () => {
  const raw = new Uint8Array(32).fill(7);
  const line = `ssh-ed25519 ${b64(ed(raw))} root@node 1`;
  const key = parseSshPublicKey(`  ${line}\n`);
  assert.equal(key.type, 'ssh-ed25519');
  assert.equal(key.comment, 'root@node 1');
  assert.deepEqual([...key.fields], [...new SshWriter().string(raw).bytes()]);
  assert.equal(formatSshPublicKey(key), line);
  assert.match(formatSshFingerprint(key.blob), /^SHA256:[A-Za-z0-9+/]{43}$/);
});

test('parses ecdsa-sha2-nistp256 and ssh-rsa keys', () => {
  assert.equal(parseSshPublicKey(ecdsaLine()).type, 'ecdsa-sha2-nistp256');
  assert.equal(parseSshPublicKey(rsaLine(2048)).type, 'ssh-rsa');
});

test('rejects bad input with a message naming the problem', () => {
  const good = b64(ed(new Uint8Array(32)));
  rejects('', /empty/);
  rejects('ssh-dss AAAAB3NzaC1kc3MAAACBAP', /not supported/);
  rejects(`ssh-ed25519-cert-v01@openssh.com ${good}`, /certificate/);
  rejects('ssh-ed25519', /no base64/);
  rejects('ssh-ed25519 AAAA$$$$', /base64/);
  rejects(`ssh-rsa ${good}`, /says "ssh-rsa" but the key inside is "ssh-ed25519"/);
  rejects(`ssh-ed25519 ${b64(ed(new Uint8Array(31)))}`, /32 bytes/);
  rejects(
    `ssh-ed25519 ${b64(
      new SshWriter()
        .raw(ed(new Uint8Array(32)))
        .byte(0)
        .bytes(),
    )}`,
    /trailing/,
  );
  rejects(`ssh-ed25519 ${b64(ed(new Uint8Array(32)).subarray(0, 30))}`, /truncated/);
  rejects(`ssh-ed25519 ${good}\nssh-ed25519 ${good}`, /single line/);
});

test('rejects an ECDSA point off the curve and a short RSA modulus', () => {
  const q = new Uint8Array(65).fill(1);
  q[0] = 4;
  rejects(
    `ecdsa-sha2-nistp256 ${b64(new SshWriter().string('ecdsa-sha2-nistp256').string('nistp256').string(q).bytes())}`,
    /not on the curve/,
  );
  rejects(
    `ecdsa-sha2-nistp256 ${b64(new SshWriter().string('ecdsa-sha2-nistp256').string('nistp384').string(q).bytes())}`,
    /curve/,
  );
  rejects(rsaLine(1024), /1024 bits; at least 2048/);
});
