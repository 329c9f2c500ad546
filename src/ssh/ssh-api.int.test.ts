import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTestController } from '../../test/support/controller.js';
import { canUseNetns, createNetns } from '../../test/support/netns.js';
import { sshTrue, startSshdInNetns } from '../../test/support/sshd.js';

// The whole SSH trust path through Kiln's API with real OpenSSH: a node sends
// its public host key with its credential, gets a certificate, a real sshd in
// a namespace presents it, and ssh trusts it from the single @cert-authority
// line Kiln prints — no prompt, no TOFU. Revoking through the API puts the
// serial in the KRL Kiln serves, and ssh then refuses the host.
const usable = canUseNetns() && process.getuid?.() === 0;

test(
  'a Kiln-issued host certificate is trusted by ssh via @cert-authority; revoked, it is refused via the KRL',
  { skip: !usable && 'needs root, iproute2 and openssh-server', timeout: 120_000 },
  async (t) => {
    const c = await createTestController();
    t.after(() => c.close());
    const ns = createNetns('ssh', '10.231.0.1/24', '10.231.0.2/24');
    t.after(() => ns.remove());
    const dir = mkdtempSync(join(tmpdir(), 'kiln-ssh-api-'));
    const key = (name: string) => {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name), '-C', name]);
      return join(dir, name);
    };

    // A host named node7 enrols (discovery) and signs its host key with its credential.
    const mac = '52:54:00:77:00:07';
    assert.equal(
      (
        await c.app.inject({
          method: 'POST',
          url: '/api/v1/hosts',
          headers: { authorization: c.bearer.operator },
          payload: { name: 'node7', nics: [{ mac }] },
        })
      ).statusCode,
      201,
    );
    const cred = (
      await c.app.inject({
        method: 'POST',
        url: '/api/v1/node/discover',
        payload: { facts: { bootMac: mac, nics: [{ mac }] } },
        remoteAddress: '10.231.0.2',
      })
    ).json().credential as string;
    const hostKey = key('ssh_host_ed25519_key');
    const signed = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/ssh/host-certificates',
      remoteAddress: '10.231.0.2',
      headers: { authorization: `Bearer ${cred}`, 'content-type': 'text/plain' },
      payload: readFileSync(`${hostKey}.pub`, 'utf8'),
    });
    assert.equal(signed.statusCode, 200, signed.body);
    writeFileSync(`${hostKey}-cert.pub`, signed.body);
    const shown = execFileSync('ssh-keygen', ['-L', '-f', `${hostKey}-cert.pub`], { encoding: 'utf8' });
    assert.match(shown, /Type: ssh-ed25519-cert-v01@openssh\.com host certificate/);
    assert.match(shown, /Principals: \n\s+node7\n\s+node7\.lab\.test\n\s+10\.231\.0\.2\n/);
    assert.match(shown, /Valid: from \S+ to \S+/);

    // An operator's user certificate from the same CA logs in (sshd TrustedUserCAKeys).
    const userKey = key('op');
    const user = await c.app.inject({
      method: 'POST',
      url: '/api/v1/ssh/user-certificates',
      headers: { authorization: c.bearer.operator },
      payload: { publicKey: readFileSync(`${userKey}.pub`, 'utf8'), principals: ['root'], validHours: 1 },
    });
    writeFileSync(`${userKey}-cert.pub`, `${user.json().certificate}\n`);
    writeFileSync(join(dir, 'ca.pub'), `${c.ssh.caPublicKeyLine()}\n`);

    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(
      knownHosts,
      (await c.app.inject({ url: '/api/v1/ssh/known-hosts', headers: { authorization: c.bearer.viewer } })).body,
    );
    assert.equal(
      readFileSync(knownHosts, 'utf8').split('\n').filter(Boolean).length,
      1,
      'known_hosts holds only the @cert-authority line',
    );

    const sshd = await startSshdInNetns(ns, dir, '10.231.0.2', hostKey, `${hostKey}-cert.pub`, join(dir, 'ca.pub'));
    t.after(() => sshd.stop());
    const ok = await sshTrue('10.231.0.2', knownHosts, userKey);
    assert.equal(ok.code, 0, `ssh failed:\n${ok.stderr}\n--- sshd ---\n${sshd.log()}`);
    assert.equal(
      readFileSync(knownHosts, 'utf8').split('\n').filter(Boolean).length,
      1,
      'nothing learned on first use',
    );

    // Revoke through the API; the KRL Kiln serves makes ssh refuse the host.
    const revoked = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts/node7/ssh/revoke',
      headers: { authorization: c.bearer.operator },
      payload: { reason: 'test' },
    });
    assert.equal(revoked.statusCode, 200);
    writeFileSync(join(dir, 'krl'), (await c.app.inject({ url: '/api/v1/ssh/revoked-keys' })).rawPayload);
    const refused = await sshTrue('10.231.0.2', knownHosts, userKey, ['-o', `RevokedHostKeys=${join(dir, 'krl')}`]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /revoked/i);
    // ssh-keygen -Q exits 1 when a listed key is revoked.
    const q = spawnSync('ssh-keygen', ['-Q', '-f', join(dir, 'krl'), `${hostKey}-cert.pub`], { encoding: 'utf8' });
    assert.equal(q.status, 1);
    assert.match(q.stdout, /REVOKED/);
  },
);
