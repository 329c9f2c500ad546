// Real peers: curl and `openssl s_client` verify a node https server running
// Kiln's issued certificate (loopback only); undici with the pinned connector
// accepts only the pinned certificate.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { hasCode } from '../../error/kiln-error.js';
import { loadOrIssueServerCertificate, type ServerCredentials } from './server-certificate.js';
import { loadOrCreateTlsCa } from './tls-ca.js';
import { createPinnedAgent } from './pinned-agent.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

async function serve(t: TestContext, creds: ServerCredentials, body: string): Promise<number> {
  const server: Server = createServer({ cert: creds.certPem, key: creds.keyPem }, (_req, res) => {
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

async function setup(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-tls-int-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await loadOrCreateTlsCa(join(dir, 'tls'));
  const creds = await loadOrIssueServerCertificate(join(dir, 'tls'), ca, {
    dnsNames: ['kiln.test'],
    ipAddresses: ['127.0.0.1'],
  });
  const caFile = join(dir, 'tls', 'ca.pem');
  return { dir, ca, creds, caFile, port: await serve(t, creds, 'hello from kiln') };
}

test(
  'curl verifies the server against ca.pem by IP and by host name, and refuses without it',
  { timeout: 60_000 },
  async (t) => {
    const { caFile, port, dir } = await setup(t);
    const byIp = await run('curl', ['-sS', '--max-time', '10', '--cacert', caFile, `https://127.0.0.1:${port}/`]);
    assert.equal(byIp.code, 0, byIp.stderr);
    assert.equal(byIp.stdout, 'hello from kiln');
    const byName = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      caFile,
      '--resolve',
      `kiln.test:${port}:127.0.0.1`,
      `https://kiln.test:${port}/`,
    ]);
    assert.equal(byName.code, 0, byName.stderr);
    const wrongName = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      caFile,
      '--resolve',
      `other.test:${port}:127.0.0.1`,
      `https://other.test:${port}/`,
    ]);
    assert.equal(wrongName.code, 60, `curl exit 60 = peer certificate cannot be authenticated: ${wrongName.stderr}`);
    await loadOrCreateTlsCa(join(dir, 'another-ca'));
    const untrusted = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '--cacert',
      join(dir, 'another-ca', 'ca.pem'),
      `https://127.0.0.1:${port}/`,
    ]);
    assert.equal(untrusted.code, 60, `another CA's certificate does not vouch for this server: ${untrusted.stderr}`);
  },
);

test(
  'openssl s_client verifies the chain, host name and IP; its fingerprint equals ours',
  { timeout: 60_000 },
  async (t) => {
    const { creds, caFile, port, dir } = await setup(t);
    const s = await run(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-CAfile',
        caFile,
        '-verify_return_error',
        '-verify_ip',
        '127.0.0.1',
        '-verify_hostname',
        'kiln.test',
        '-servername',
        'kiln.test',
      ],
      'Q\n',
    );
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /Verify return code: 0 \(ok\)/);
    assert.match(s.stdout, /Verified peername: kiln\.test/);
    await writeFile(join(dir, 'leaf.pem'), creds.certPem);
    const fp = await run('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-fingerprint', '-sha256']);
    assert.equal(`sha256:${fp.stdout.trim().split('=')[1]}`, creds.fingerprint);
    const bad = await run(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${port}`,
        '-CAfile',
        caFile,
        '-verify_return_error',
        '-verify_hostname',
        'other.test',
      ],
      'Q\n',
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /hostname mismatch/);
  },
);

test('the pinned agent connects to the pinned certificate and refuses any other', { timeout: 60_000 }, async (t) => {
  const { creds, port, dir, ca } = await setup(t);
  const agent = createPinnedAgent(creds.fingerprint.toLowerCase());
  t.after(() => agent.close());
  const ok = await request(`https://127.0.0.1:${port}/`, { dispatcher: agent });
  assert.equal(ok.statusCode, 200);
  assert.equal(await ok.body.text(), 'hello from kiln');

  // A second server with a certificate from the same CA and the same names: still refused.
  const other = await loadOrIssueServerCertificate(join(dir, 'other'), ca, {
    dnsNames: ['kiln.test'],
    ipAddresses: ['127.0.0.1'],
  });
  assert.notEqual(other.fingerprint, creds.fingerprint);
  const otherPort = await serve(t, other, 'impostor');
  await assert.rejects(
    request(`https://127.0.0.1:${otherPort}/`, { dispatcher: agent }),
    (e) => hasCode(e, 'tls_pin_mismatch') && e.message.includes(other.fingerprint),
  );

  const wrongPin = createPinnedAgent(other.fingerprint);
  t.after(() => wrongPin.close());
  await assert.rejects(request(`https://127.0.0.1:${port}/`, { dispatcher: wrongPin }), (e) =>
    hasCode(e, 'tls_pin_mismatch'),
  );
});
