// The image writer's late step (node/agent/late.sh) under the busybox the
// image ships, against a fake target root and the fake node API on HTTPS
// (Kiln's own TLS CA and SSH CA), with Debian's openssl as the HTTPS client
// and ssh-keygen standing in for the target's (the chroot is replaced by a
// path rewrite). Proves: secrets and certificates are fetched over verified
// HTTPS only; a server that does not verify against the plan's CA never sees
// the credential; the hash lands in /etc/shadow (other lines untouched), the
// keys in root's authorized_keys; shipped host keys are replaced by one made
// for this host whose certificate is signed by Kiln's CA; only the public key
// is sent. With several members (api.urls, every member's CA in api.caPem):
// a member that gives no answer is passed over for the next.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { loadTrust, type Trust } from '../trust/load-trust.js';
import { signHostCertificate } from '../trust/ssh/ssh-certificate.js';
import { nodeScriptsDir } from './build-discovery-image.js';
import { startFakeNodeApi, type FakeNodeApi } from './fake-node-api.js';
import { freePort } from '../../test/support/serve-process.js';

const run = promisify(execFile);
const busybox = '/bin/busybox';
const agent = join(nodeScriptsDir, 'agent');
const skip =
  !existsSync(busybox) || !existsSync('/usr/bin/openssl') || !existsSync('/usr/bin/ssh-keygen')
    ? 'needs busybox, openssl and ssh-keygen'
    : false;

const hash = '$6$kilnsalt0123456$' + 'x'.repeat(86);
const userKey = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAd8kA2wP8XH3oHV4rW4eE2b0bW2Lq7VbVwq3cJx0m1W ops@example';

const work = mkdtempSync(join(tmpdir(), 'kiln-late-'));
let trust: Trust;
let other: Trust;
let serial = 1;

function put(path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

before(async () => {
  if (skip) return;
  const names = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
  trust = await loadTrust({ dataDir: join(work, 'kiln'), server: { kind: 'issue', ...names } });
  other = await loadTrust({ dataDir: join(work, 'other'), server: { kind: 'issue', ...names } });
  mkdirSync(join(work, 'bin'));
  symlinkSync('/usr/bin/openssl', join(work, 'bin/openssl'));
});
after(() => rmSync(work, { recursive: true, force: true }));

async function fakeApi(
  t: Trust,
  secrets: { rootPasswordHash: string | null; authorizedKeys: string[] },
): Promise<FakeNodeApi> {
  return startFakeNodeApi({
    host: '127.0.0.1',
    tls: { certPem: t.server.certPem, keyPem: t.server.keyPem },
    secrets,
    signHostKey: (line) =>
      signHostCertificate({
        ca: trust.sshCa,
        publicKeyLine: line,
        principals: ['node-7'],
        validAfter: new Date(Date.now() - 60_000),
        validBefore: new Date(Date.now() + 86_400_000),
        serial: serial++,
        keyId: 'host:node-7:test',
      }),
  });
}

/** A target root as an image ships it: root and daemon in passwd/shadow, an sshd_config, an old RSA host key, ssh-keygen. */
function target(name: string, opts: { include?: boolean; keygen?: boolean } = {}): string {
  const t = join(work, name);
  put(join(t, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n');
  put(join(t, 'etc/shadow'), 'root:$6$image$imagehash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n', 0o640);
  put(
    join(t, 'etc/ssh/sshd_config'),
    `${opts.include === false ? '' : 'Include /etc/ssh/sshd_config.d/*.conf\n'}PasswordAuthentication yes\n`,
  );
  put(join(t, 'etc/ssh/ssh_host_rsa_key'), 'shipped private key\n', 0o600);
  put(join(t, 'etc/ssh/ssh_host_rsa_key.pub'), 'ssh-rsa AAAAshipped\n');
  if (opts.keygen !== false) put(join(t, 'usr/bin/ssh-keygen'), '#!/bin/sh\n', 0o755);
  return t;
}

/** Runs late_secrets and late_hostcert as install.sh does; the plan names `apiUrl` and `caPem`. */
async function runLate(
  t: string,
  api: FakeNodeApi,
  apiUrl: string,
  caPem: string,
  commands = 'late_secrets && late_hostcert',
  apiUrls?: string[],
): Promise<{ code: number; out: string }> {
  const runDir = join(t, '..', `${t.split('/').pop()}-run`);
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(runDir, 'credential'), api.credential, { mode: 0o600 });
  writeFileSync(
    join(runDir, 'plan.json'),
    JSON.stringify({
      hostname: 'node-7',
      layout: 'single',
      api: { url: apiUrl, ...(apiUrls ? { urls: apiUrls } : {}), caPem },
    }),
  );
  // The chroot is replaced: the host's ssh-keygen runs with target paths rewritten under KILN_TARGET.
  const script = `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/late.sh"
progress() { log "[$1] $2"; }
target_run() {
  shift; n=$#
  for a in "$@"; do case "$a" in /etc/*) a=$KILN_TARGET$a ;; esac; set -- "$@" "$a"; done
  shift "$n"; /usr/bin/ssh-keygen "$@"
}
plan_get() { printf '%s\\n' "$PLAN" | json_get "$1"; }
PLAN=$(json_flatten < "$KILN_RUN/plan.json")
${commands}`;
  try {
    const r = await run(busybox, ['sh', '-c', script], {
      env: { PATH: '/usr/bin:/bin', KILN_LIB: agent, KILN_RUN: runDir, KILN_BIN: join(work, 'bin'), KILN_TARGET: t },
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test(
  'late step: hash, keys and a Kiln-signed host certificate for a key made on the node; only the public key is sent',
  { skip },
  async () => {
    const api = await fakeApi(trust, { rootPasswordHash: hash, authorizedKeys: [userKey] });
    try {
      const t = target('good');
      const r = await runLate(t, api, api.apiUrl, trust.tlsCa.certPem);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /root password hash set, 1 authorized key\(s\)/);
      assert.match(
        r.out,
        /removing host keys shipped in the image: \/etc\/ssh\/ssh_host_rsa_key \/etc\/ssh\/ssh_host_rsa_key\.pub/,
      );

      // /etc/shadow: root's hash set, the other line and the file mode kept.
      const shadow = readFileSync(join(t, 'etc/shadow'), 'utf8').split('\n');
      assert.ok(
        shadow[0].startsWith(`root:${hash}:`) && /^\d+:0:99999:7:::$/.test(shadow[0].slice(`root:${hash}:`.length)),
        shadow[0],
      );
      assert.equal(shadow[1], 'daemon:*:19000:0:99999:7:::');
      assert.equal(statSync(join(t, 'etc/shadow')).mode & 0o777, 0o640);
      // authorized_keys: exactly Kiln's list, 0600 in a 0700 directory.
      assert.equal(readFileSync(join(t, 'root/.ssh/authorized_keys'), 'utf8'), `${userKey}\n`);
      assert.equal(statSync(join(t, 'root/.ssh/authorized_keys')).mode & 0o777, 0o600);
      assert.equal(statSync(join(t, 'root/.ssh')).mode & 0o777, 0o700);

      // The shipped key is gone; the new key's certificate is Kiln's and is for that key.
      assert.equal(existsSync(join(t, 'etc/ssh/ssh_host_rsa_key')), false);
      const pub = readFileSync(join(t, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8');
      const cert = readFileSync(join(t, 'etc/ssh/ssh_host_ed25519_key-cert.pub'), 'utf8');
      const shown = execFileSync('ssh-keygen', ['-L', '-f', join(t, 'etc/ssh/ssh_host_ed25519_key-cert.pub')], {
        encoding: 'utf8',
      });
      assert.match(shown, /Type: ssh-ed25519-cert-v01@openssh.com host certificate/);
      assert.ok(shown.includes(`Signing CA: ED25519 ${trust.sshCa.fingerprint} `), shown);
      const certKeyFp = /Public key: ED25519-CERT (\S+)/.exec(shown)?.[1];
      assert.equal(
        certKeyFp,
        execFileSync('ssh-keygen', ['-l', '-f', join(t, 'etc/ssh/ssh_host_ed25519_key.pub')], {
          encoding: 'utf8',
        }).split(' ')[1],
      );
      assert.ok(cert.startsWith('ssh-ed25519-cert-v01@openssh.com '));
      assert.equal(statSync(join(t, 'etc/ssh/ssh_host_ed25519_key')).mode & 0o777, 0o600);
      // sshd: keys only, this key and its certificate (the image's config includes sshd_config.d).
      assert.equal(
        readFileSync(join(t, 'etc/ssh/sshd_config.d/10-kiln.conf'), 'utf8')
          .split('\n')
          .filter((l) => l && !l.startsWith('#'))
          .join('|'),
        'HostKey /etc/ssh/ssh_host_ed25519_key|HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub|PasswordAuthentication no|PermitRootLogin prohibit-password',
      );

      // Both calls over HTTPS with the credential; the signing request carried only the public key.
      const late = api.calls.filter(
        (c) => c.path === '/api/v1/node/secrets' || c.path === '/api/v1/node/ssh/host-certificates',
      );
      assert.deepEqual(
        late.map((c) => [c.method, c.path, c.tls, c.authorization]),
        [
          ['GET', '/api/v1/node/secrets', true, `Bearer ${api.credential}`],
          ['POST', '/api/v1/node/ssh/host-certificates', true, `Bearer ${api.credential}`],
        ],
      );
      assert.equal(late[1].text, pub);
      assert.doesNotMatch(late[1].text, /PRIVATE/);
    } finally {
      await api.close();
    }
  },
);

test(
  "late step: an API whose certificate is not from the plan's CA never receives the credential, and nothing is written",
  { skip },
  async () => {
    const api = await fakeApi(other, { rootPasswordHash: hash, authorizedKeys: [userKey] });
    try {
      const t = target('wrong-ca');
      const before = readFileSync(join(t, 'etc/shadow'), 'utf8');
      const r = await runLate(t, api, api.apiUrl, trust.tlsCa.certPem);
      assert.notEqual(r.code, 0);
      assert.match(r.out, /does not verify against the CA in the install plan/);
      assert.deepEqual(api.calls, [], 'no request reached the server');
      assert.equal(readFileSync(join(t, 'etc/shadow'), 'utf8'), before);
      assert.equal(existsSync(join(t, 'root/.ssh/authorized_keys')), false);
    } finally {
      await api.close();
    }
  },
);

test(
  "late step: the controller's error message is reported; plain http is refused before any call",
  { skip },
  async () => {
    const api = await fakeApi(trust, { rootPasswordHash: null, authorizedKeys: [] });
    try {
      // The fake refuses secrets over plain HTTP, as the controller does: the writer never tries.
      const r = await runLate(target('plain'), api, api.url, trust.tlsCa.certPem);
      assert.notEqual(r.code, 0);
      assert.match(r.out, /not https:\/\/: node secrets are sent over HTTPS only/);
      assert.equal(api.calls.length, 0);
      // An HTTP error is final and its message is shown (no retries).
      const bad = await runLate(target('bad-path'), api, `${api.apiUrl}/nowhere`, trust.tlsCa.certPem);
      assert.notEqual(bad.code, 0);
      assert.match(bad.out, /GET \/api\/v1\/node\/secrets: HTTP 404/);
      assert.equal(api.calls.length, 1);
    } finally {
      await api.close();
    }
  },
);

test(
  'late step: without a hash root has no password (keys still work); without an Include the lines go first in sshd_config; no OpenSSH means no certificate',
  { skip },
  async () => {
    const api = await fakeApi(trust, { rootPasswordHash: null, authorizedKeys: [] });
    try {
      const t = target('locked', { include: false });
      const r = await runLate(t, api, api.apiUrl, trust.tlsCa.certPem);
      assert.equal(r.code, 0, r.out);
      assert.match(readFileSync(join(t, 'etc/shadow'), 'utf8'), /^root:\*:\d+:0:99999:7:::\ndaemon:/);
      assert.equal(readFileSync(join(t, 'root/.ssh/authorized_keys'), 'utf8'), '');
      const cfg = readFileSync(join(t, 'etc/ssh/sshd_config'), 'utf8');
      assert.ok(cfg.indexOf('PasswordAuthentication no') < cfg.indexOf('PasswordAuthentication yes'), cfg);
      assert.match(cfg, /^HostCertificate \/etc\/ssh\/ssh_host_ed25519_key-cert\.pub$/m);

      const bare = target('no-openssh', { keygen: false });
      const r2 = await runLate(bare, api, api.apiUrl, trust.tlsCa.certPem);
      assert.equal(r2.code, 0, r2.out);
      assert.match(r2.out, /the image has no OpenSSH/);
      assert.equal(existsSync(join(bare, 'etc/ssh/ssh_host_ed25519_key-cert.pub')), false);
      assert.equal(
        api.calls.filter((c) => c.path === '/api/v1/node/ssh/host-certificates').length,
        1,
        'only the target with OpenSSH asked for a certificate',
      );
    } finally {
      await api.close();
    }
  },
);

test(
  "api calls after the plan go to the plan's HTTPS API through the verifying client, never to a server the CA does not vouch for",
  { skip },
  async () => {
    const api = await fakeApi(trust, { rootPasswordHash: null, authorizedKeys: [] });
    const wrong = await fakeApi(other, { rootPasswordHash: null, authorizedKeys: [] });
    try {
      const call = `late_ca && KILN_API_TLS=1 && api POST progress '{"stage":"image","message":"x"}' && api GET next`;
      const r = await runLate(target('api-tls'), api, api.apiUrl, trust.tlsCa.certPem, call);
      assert.equal(r.code, 0, r.out);
      assert.deepEqual(
        api.calls.map((c) => [c.method, c.path, c.tls, c.authorization]),
        [
          ['POST', '/api/v1/node/progress', true, `Bearer ${api.credential}`],
          ['GET', '/api/v1/node/next', true, `Bearer ${api.credential}`],
        ],
      );
      assert.deepEqual(api.calls[0].body, { stage: 'image', message: 'x' });
      const w = await runLate(target('api-tls-wrong'), wrong, wrong.apiUrl, trust.tlsCa.certPem, call);
      assert.notEqual(w.code, 0);
      assert.deepEqual(wrong.calls, [], 'the credential never reached a server outside the CA');
    } finally {
      await api.close();
      await wrong.close();
    }
  },
);

test(
  "late step: the plan's member gives no answer: the next member's API, verified by its own CA from the plan's bundle",
  { skip },
  async () => {
    // Member B's API (its certificate from B's CA); member A, which made the plan, is dead.
    const b = await fakeApi(other, { rootPasswordHash: hash, authorizedKeys: [userKey] });
    const dead = `https://127.0.0.1:${await freePort()}`;
    try {
      const t = target('failover');
      const bundle = `${trust.tlsCa.certPem.trim()}\n${other.tlsCa.certPem.trim()}\n`;
      const r = await runLate(
        t,
        b,
        dead,
        bundle,
        'late_secrets && late_hostcert && cat "$KILN_RUN/controller-api-url"',
        [dead, 'http://127.0.0.1:9', b.apiUrl],
      );
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`no answer from 127.0.0.1:${dead.split(':').pop()}`));
      assert.match(r.out, /root password hash set, 1 authorized key\(s\)/);
      assert.ok(r.out.split('\n').includes(b.apiUrl), 'the member that answered is asked first from then on');
      assert.deepEqual(
        b.calls.map((c) => [c.method, c.path, c.tls]),
        [
          ['GET', '/api/v1/node/secrets', true],
          ['POST', '/api/v1/node/ssh/host-certificates', true],
        ],
        'each call once, over HTTPS',
      );
      assert.equal(readFileSync(join(t, 'root/.ssh/authorized_keys'), 'utf8'), `${userKey}\n`);
    } finally {
      await b.close();
    }
  },
);

test('late step: an HTTP error from the first member is final: the next member is not asked', { skip }, async () => {
  const a = await fakeApi(trust, { rootPasswordHash: null, authorizedKeys: [] });
  const b = await fakeApi(trust, { rootPasswordHash: null, authorizedKeys: [] });
  try {
    const r = await runLate(target('failover-4xx'), a, `${a.apiUrl}/nowhere`, trust.tlsCa.certPem, 'late_secrets', [
      `${a.apiUrl}/nowhere`,
      b.apiUrl,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /HTTP 404/);
    assert.deepEqual(b.calls, []);
  } finally {
    await a.close();
    await b.close();
  }
});
