// `kiln controller join` for real (docs/cluster.md "Joining"): two `kiln serve`
// on one PostgreSQL (loopback). B joins A with a one-time token over A's HTTPS
// API, pinned by the token; B makes its own CAs and receives A's data key
// wrapped to a key pair it made for the join, then starts on the store (its
// data key passes the store's check). Trust everywhere: `kiln ssh
// known-hosts` prints both members' CA lines on either member; a host
// certificate that B signed for a node is accepted by Debian's ssh client
// trusting those lines (and refused with A's line alone), against Debian's
// sshd; A's KRL revokes B's certificate; A's boot scripts carry B's URL.
// Fails, does not skip, when the local PostgreSQL is down.
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '../../test/support/hook-scenario.js';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import { freePort, runKiln, startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { killChild, stopChild } from '../../test/support/process.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-join-'));
const serves: ServeProcess[] = [];
let database: TempPostgres | undefined;
after(async () => {
  for (const s of serves) killChild(s.child);
  await database?.drop();
  rmSync(work, { recursive: true, force: true });
});

const canSsh = existsSync('/usr/sbin/sshd') && process.getuid?.() === 0;

/** Debian's sshd on a loopback port with one host key and its certificate; stopped by PID when the test ends. */
async function startSshd(t: TestContext, key: string, cert: string): Promise<number> {
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true });
  const port = await freePort();
  const config = join(work, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${key}`,
      `HostCertificate ${cert}`,
      `PidFile ${join(work, 'sshd.pid')}`,
      'AuthorizedKeysFile none',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  t.after(() => stopChild(child, 5_000));
  await until('sshd listening', () => log.includes(`port ${port}`), 10_000).catch(() => {
    throw new Error(`sshd did not start:\n${log}`);
  });
  return port;
}

/** ssh's host verification alone (no user login needed): the output of `ssh -v` up to authentication. */
function sshHostCheck(port: number, knownHosts: string, alias: string): Promise<{ code: number; stderr: string }> {
  const args = [
    '-F',
    '/dev/null',
    '-v',
    '-p',
    String(port),
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    'PubkeyAuthentication=no',
    '-o',
    `HostKeyAlias=${alias}`,
    '-o',
    'HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com',
    '-o',
    'ConnectTimeout=10',
    'root@127.0.0.1',
    'true',
  ];
  return new Promise((resolve) =>
    execFile('ssh', args, { timeout: 30_000, encoding: 'utf8' }, (err, _o, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    ),
  );
}

test(
  'kiln controller join: own CAs, the data key wrapped to the joiner, trust in every member CA, boot URLs of both',
  { timeout: 150_000 },
  async (t) => {
    database = await createTempPostgres('join');
    const config = join(work, 'kiln.yaml');
    writeFileSync(config, 'cluster: { heartbeatSeconds: 1, electionMs: 500, staleSeconds: 4 }\n');
    const dirA = join(work, 'a');
    const dirB = join(work, 'b');
    mkdirSync(dirA, { mode: 0o700 });
    const a = await startServe(['--data-dir', dirA, '--config', config, '--database-url', database.url]);
    serves.push(a);
    const admin = readFileSync(join(dirA, 'admin-token'), 'utf8').trim();
    const onA = { KILN_SERVER: a.url, KILN_TOKEN: admin };
    let b: ServeProcess | undefined;
    try {
      const made = await runKiln(['controller', 'join-token', '--json'], onA);
      assert.equal(made.code, 0, made.stderr);
      const token = (JSON.parse(made.stdout) as { token: string }).token;
      const join_ = (extra: Record<string, string>, dir: string) =>
        runKiln(['controller', 'join', '--from', a.tlsUrl, '--data-dir', dir, '--name', 'b'], {
          KILN_TOKEN: admin,
          KILN_JOIN_TOKEN: token,
          ...extra,
        });

      // A token whose pin is not A's CA: refused before anything is sent (the token stays unspent).
      const wrongPin = await join_({ KILN_JOIN_TOKEN: token.replace(/.{8}$/, '00000000') }, dirB);
      assert.equal(wrongPin.code, 6, wrongPin.stderr);
      assert.match(wrongPin.stderr, /does not serve the TLS CA the join token pins/);
      assert.ok(!existsSync(join(dirB, 'data.key')));

      // The join.
      const joined = await join_({}, dirB);
      assert.equal(joined.code, 0, joined.stderr);
      t.diagnostic(joined.stdout);
      assert.equal(statSync(join(dirB, 'data.key')).mode & 0o777, 0o600);
      assert.deepEqual(
        readFileSync(join(dirB, 'data.key')),
        readFileSync(join(dirA, 'data.key')),
        "B holds the store's data key",
      );
      // B's CAs are its own: no private key came from A.
      for (const f of ['ssh/ssh_ca_ed25519', 'tls/ca-key.pem'])
        assert.notDeepEqual(readFileSync(join(dirB, f)), readFileSync(join(dirA, f)), f);

      // The token is spent: a second join with it is refused (exit 5) and writes no data key.
      const again = await join_({}, join(work, 'c'));
      assert.equal(again.code, 5, again.stderr);
      assert.match(again.stderr, /join_token_invalid/);
      assert.ok(!existsSync(join(work, 'c', 'data.key')));

      // B starts on the store with the unwrapped key (a wrong key would stop it at start).
      b = await startServe(['--data-dir', dirB, '--config', config, '--database-url', database.url]);
      serves.push(b);
      const onB = { KILN_SERVER: b.url, KILN_TOKEN: admin };
      const sshFp = (dir: string) =>
        execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'ssh', 'ssh_ca_ed25519.pub')], { encoding: 'utf8' }).split(
          ' ',
        )[1]!;
      const [fpA, fpB] = [sshFp(dirA), sshFp(dirB)];

      // Trust everywhere: one @cert-authority line per member, on either member (its own first).
      const khA = await runKiln(['ssh', 'known-hosts'], onA);
      const khB = await runKiln(['ssh', 'known-hosts'], onB);
      assert.equal(khA.code, 0, khA.stderr);
      const linesA = khA.stdout.trim().split('\n');
      const linesB = khB.stdout.trim().split('\n');
      assert.equal(linesA.length, 2, khA.stdout);
      assert.deepEqual([...linesB].sort(), [...linesA].sort());
      const keyOf = (dir: string) =>
        readFileSync(join(dir, 'ssh', 'ssh_ca_ed25519.pub'), 'utf8')
          .split(' ')
          .slice(0, 2)
          .join(' ');
      assert.equal(linesA[0], `@cert-authority * ${keyOf(dirA)}`);
      assert.equal(linesB[0], `@cert-authority * ${keyOf(dirB)}`);
      const bundle = await (await fetch(`${a.url}/api/v1/controllers/ca-bundle`)).text();
      assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 2);

      // A node enrols through B and has its host key signed by B's CA.
      const enrol = await fetch(`${b.url}/api/v1/node/discover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          facts: { bootMac: '52:54:00:10:70:01', nics: [{ mac: '52:54:00:10:70:01', name: 'eth0', link: true }] },
        }),
      });
      assert.equal(enrol.status, 200, await enrol.clone().text());
      const node = (await enrol.json()) as { name: string; credential: string };
      const hostKey = join(work, 'ssh_host_ed25519_key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
      const signed = await fetch(`${b.url}/api/v1/node/ssh/host-certificates`, {
        method: 'POST',
        headers: { authorization: `Bearer ${node.credential}`, 'content-type': 'text/plain' },
        body: readFileSync(`${hostKey}.pub`, 'utf8'),
      });
      const certText = await signed.text();
      assert.equal(signed.status, 200, certText);
      writeFileSync(`${hostKey}-cert.pub`, certText);
      const shown = execFileSync('ssh-keygen', ['-L', '-f', `${hostKey}-cert.pub`], { encoding: 'utf8' });
      assert.match(shown, new RegExp(`Signing CA: ED25519 ${fpB.replace(/[+/]/g, '\\$&')}`), shown);
      const serial = Number(/Serial: (\d+)/.exec(shown)![1]);

      if (canSsh) {
        const port = await startSshd(t, hostKey, `${hostKey}-cert.pub`);
        const both = join(work, 'known_hosts_both');
        writeFileSync(both, khA.stdout);
        const onlyA = join(work, 'known_hosts_a');
        writeFileSync(onlyA, `${linesA[0]}\n`);
        // Host verification passes with the printed lines (ssh then fails only at user authentication, which this sshd offers none of).
        const ok = await sshHostCheck(port, both, node.name);
        assert.match(ok.stderr, /is known and matches the ED25519-CERT host certificate/, ok.stderr);
        assert.match(
          ok.stderr,
          new RegExp(`Server host certificate: ssh-ed25519-cert-v01@openssh.com .* serial ${serial} `),
        );
        assert.doesNotMatch(ok.stderr, /Host key verification failed/);
        const refused = await sshHostCheck(port, onlyA, node.name);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /Host key verification failed/);
        t.diagnostic(
          `ssh trusting \`kiln ssh known-hosts\` accepted the host certificate serial ${serial} from B (CA ${fpB}); with A's line alone it was refused`,
        );
      } else t.diagnostic('no sshd or not root: the ssh client check was skipped');

      // Revoked through A: A's KRL names the serial under B's CA too (ssh-keygen -Q reads it).
      const revoked = await runKiln(['ssh', 'revoke', '--serial', String(serial)], onA);
      assert.equal(revoked.code, 0, revoked.stderr);
      const krl = join(work, 'krl');
      writeFileSync(krl, Buffer.from(await (await fetch(`${a.url}/api/v1/ssh/revoked-keys`)).arrayBuffer()));
      const q = await new Promise<string>((resolve) =>
        execFile('ssh-keygen', ['-Q', '-f', krl, `${hostKey}-cert.pub`], { encoding: 'utf8' }, (_e, out) =>
          resolve(out),
        ),
      );
      assert.match(q, /REVOKED/, q);

      // One address for machines: A's chain script tries A, then B (once B's heartbeat is in the store).
      await until(
        "B's URL in A's chain script",
        async () => (await (await fetch(`${a.url}/boot.ipxe`)).text()).includes(`${b!.url}/boot/host.ipxe`),
        15_000,
      );
      const chain = await (await fetch(`${a.url}/boot.ipxe`)).text();
      t.diagnostic(`A's /boot.ipxe:\n${chain}`);
      assert.ok(chain.indexOf(`${a.url}/boot/host.ipxe`) < chain.indexOf(`${b.url}/boot/host.ipxe`));

      const list = await runKiln(['controller', 'list'], onA);
      t.diagnostic(`kiln controller list:\n${list.stdout}\nmembers' CAs: A ${fpA}, B ${fpB}`);
    } catch (err) {
      t.diagnostic(`A:\n${a.output().slice(-3000)}\nB:\n${b?.output().slice(-3000) ?? ''}`);
      throw err;
    } finally {
      if (b) await stopChild(b.child, 10_000);
      await stopChild(a.child, 10_000);
    }
  },
);
