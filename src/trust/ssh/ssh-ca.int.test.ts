// Real peer: OpenSSH's ssh-keygen (Debian openssh-client) reads what we write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode } from '../../error/kiln-error.js';
import { formatCertAuthorityLine, loadOrCreateSshCa, sshCaFromPrivateKey, sshCaKeyFile } from './ssh-ca.js';
import { signHostCertificate, signUserCertificate } from './ssh-certificate.js';
import { encodeKrl } from './ssh-krl.js';

// TZ=UTC: ssh-keygen -L prints validity in local time.
const keygen = (args: string[]) =>
  execFileSync('ssh-keygen', args, { encoding: 'utf8', timeout: 20_000, env: { ...process.env, TZ: 'UTC' } });

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-sshca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('the CA key is created 0600 in OpenSSH format, ssh-keygen reads it, and it is loaded again unchanged', async (t) => {
  const dir = await tempDir(t);
  const ca = await loadOrCreateSshCa(join(dir, 'ssh'));
  const path = join(dir, 'ssh', sshCaKeyFile);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'ssh'))).mode & 0o777, 0o700);
  assert.equal(keygen(['-y', '-f', path]).trim(), ca.publicKeyLine);
  assert.equal((await readFile(`${path}.pub`, 'utf8')).trim(), ca.publicKeyLine);
  assert.equal(keygen(['-l', '-f', path]).split(' ')[1], ca.fingerprint);
  const again = await loadOrCreateSshCa(join(dir, 'ssh'));
  assert.equal(again.publicKeyLine, ca.publicKeyLine);
  assert.match(
    formatCertAuthorityLine(ca.publicKey),
    /^@cert-authority \* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=*$/,
  );
  assert.equal(formatCertAuthorityLine(ca.publicKeyLine, '*.lab,10.0.0.*').split(' ')[1], '*.lab,10.0.0.*');
});

test('an ed25519 key made by ssh-keygen loads as a CA; a group-readable key is refused', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, sshCaKeyFile);
  keygen(['-q', '-t', 'ed25519', '-N', '', '-C', 'op-ca', '-f', path]);
  const ca = sshCaFromPrivateKey(await readFile(path, 'utf8'), path);
  assert.equal(ca.publicKeyLine, (await readFile(`${path}.pub`, 'utf8')).trim());
  assert.equal((await loadOrCreateSshCa(dir)).publicKeyLine, ca.publicKeyLine);
  await chmod(path, 0o640);
  await assert.rejects(loadOrCreateSshCa(dir), (e) => hasCode(e, 'config_invalid') && /0600/.test(e.message));
  const rsa = join(dir, 'rsa');
  keygen(['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', rsa]);
  assert.throws(
    () => sshCaFromPrivateKey(execFileSync('cat', [rsa], { encoding: 'utf8' }), rsa),
    (e) => hasCode(e, 'config_invalid') && /ssh-rsa/.test(e.message),
  );
});

test('ssh-keygen -L shows type, principals, serial, key id and validity for all three host key types', async (t) => {
  const dir = await tempDir(t);
  const ca = await loadOrCreateSshCa(dir);
  const cases = [
    ['ed25519', 'ssh-ed25519-cert-v01@openssh.com'],
    ['ecdsa', 'ecdsa-sha2-nistp256-cert-v01@openssh.com'],
    ['rsa', 'ssh-rsa-cert-v01@openssh.com'],
  ] as const;
  let serial = 1000;
  for (const [kt, certType] of cases) {
    const key = join(dir, `host_${kt}`);
    keygen([
      '-q',
      '-t',
      kt,
      ...(kt === 'ecdsa' ? ['-b', '256'] : kt === 'rsa' ? ['-b', '3072'] : []),
      '-N',
      '',
      '-f',
      key,
    ]);
    const line = signHostCertificate({
      ca,
      publicKeyLine: await readFile(`${key}.pub`, 'utf8'),
      principals: ['node7.lab.example', '192.0.2.7'],
      validAfter: new Date('2030-01-02T03:04:05Z'),
      validBefore: new Date('2031-06-07T08:09:10Z'),
      serial: ++serial,
      keyId: `host:node7:${kt}`,
    });
    await writeFile(`${key}-cert.pub`, `${line}\n`);
    const out = keygen(['-L', '-f', `${key}-cert.pub`]);
    assert.match(out, new RegExp(`Type: ${certType} host certificate`));
    assert.match(
      out,
      new RegExp(`Signing CA: ED25519 ${ca.fingerprint.replace(/[+/]/g, '\\$&')} \\(using ssh-ed25519\\)`),
    );
    assert.match(out, new RegExp(`Key ID: "host:node7:${kt}"`));
    assert.match(out, new RegExp(`Serial: ${serial}\\n`));
    assert.match(out, /Valid: from 2030-01-02T03:04:05 to 2031-06-07T08:09:10/);
    assert.match(out, /Principals: \n\s+node7\.lab\.example\n\s+192\.0\.2\.7\n/);
    assert.match(out, /Extensions: \(none\)/);
  }
});

test("ssh-keygen -L shows a user certificate's extensions and critical options", async (t) => {
  const dir = await tempDir(t);
  const ca = await loadOrCreateSshCa(dir);
  const key = join(dir, 'user');
  keygen(['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  await writeFile(
    `${key}-cert.pub`,
    signUserCertificate({
      ca,
      publicKeyLine: await readFile(`${key}.pub`, 'utf8'),
      principals: ['root', 'admin'],
      serial: 77,
      keyId: 'user:alice',
      validAfter: new Date(0),
      validBefore: 'forever',
      forceCommand: '/usr/bin/uptime',
    }),
  );
  const out = keygen(['-L', '-f', `${key}-cert.pub`]);
  assert.match(out, /Type: ssh-ed25519-cert-v01@openssh.com user certificate/);
  assert.match(out, /Valid: forever/);
  assert.match(out, /force-command \/usr\/bin\/uptime/);
  for (const ext of [
    'permit-X11-forwarding',
    'permit-agent-forwarding',
    'permit-port-forwarding',
    'permit-pty',
    'permit-user-rc',
  ])
    assert.match(out, new RegExp(`\\n\\s+${ext}\\n`));
});

test('ssh-keygen -Q reports certificates revoked by serial, key id or key, and passes the rest', async (t) => {
  const dir = await tempDir(t);
  const ca = await loadOrCreateSshCa(dir);
  const certs: string[] = [];
  for (const i of [1, 2, 3, 4]) {
    const key = join(dir, `h${i}`);
    keygen(['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    await writeFile(
      `${key}-cert.pub`,
      signHostCertificate({
        ca,
        publicKeyLine: await readFile(`${key}.pub`, 'utf8'),
        principals: ['h'],
        serial: 10 + i,
        keyId: `host:h${i}`,
        validAfter: new Date(0),
        validBefore: 'forever',
      }),
    );
    certs.push(`${key}-cert.pub`);
  }
  const krl = join(dir, 'revoked.krl');
  await writeFile(
    krl,
    encodeKrl({
      ca: ca.publicKey,
      serials: [11],
      keyIds: ['host:h2'],
      keys: [await readFile(join(dir, 'h3.pub'), 'utf8')],
      version: 3,
      generatedAt: new Date(),
      comment: 'kiln test',
    }),
  );
  const q = spawnSync('ssh-keygen', ['-Q', '-f', krl, ...certs], { encoding: 'utf8', timeout: 20_000 });
  assert.notEqual(q.status, 0, 'ssh-keygen -Q exits non-zero when something is revoked');
  assert.match(q.stdout, /h1-cert\.pub \(host:h1\): REVOKED/);
  assert.match(q.stdout, /h2-cert\.pub \(host:h2\): REVOKED/);
  assert.match(q.stdout, /h3-cert\.pub \(host:h3\): REVOKED/);
  assert.match(q.stdout, /h4-cert\.pub \(host:h4\): ok/);
  const listing = keygen(['-Q', '-l', '-f', krl]);
  assert.match(listing, /# KRL version 3/);
  assert.match(listing, /# Comment: kiln test/);
  assert.match(listing, /serial: 11/);
});
