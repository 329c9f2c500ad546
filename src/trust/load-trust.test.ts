import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryLogger } from '../log/logger.js';
import { loadTrust } from './load-trust.js';

test('loadTrust creates every key once, 0600, and returns the same trust on the next start', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-trust-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const logger = createMemoryLogger();
  const server = { kind: 'issue' as const, dnsNames: ['kiln.local'], ipAddresses: ['127.0.0.1'] };
  const first = await loadTrust({ dataDir, server, logger });
  for (const f of ['ssh/ssh_ca_ed25519', 'tls/ca-key.pem', 'tls/server-key.pem', 'data.key']) {
    assert.equal((await stat(join(dataDir, f))).mode & 0o777, 0o600, f);
  }
  assert.deepEqual((await readdir(join(dataDir, 'tls'))).sort(), [
    'ca-key.pem',
    'ca.pem',
    'server-key.pem',
    'server.pem',
  ]);
  assert.ok(logger.lines.some((l) => (l.obj as { fingerprint?: string }).fingerprint === first.server.fingerprint));
  const second = await loadTrust({ dataDir, server });
  assert.equal(second.sshCa.publicKeyLine, first.sshCa.publicKeyLine);
  assert.equal(second.tlsCa.certPem, first.tlsCa.certPem);
  assert.equal(second.server.fingerprint, first.server.fingerprint);
  assert.deepEqual(second.dataKey, first.dataKey);

  await writeFile(join(dataDir, 'op.pem'), first.server.certPem);
  await writeFile(join(dataDir, 'op-key.pem'), first.server.keyPem);
  const operator = await loadTrust({
    dataDir,
    server: { kind: 'files', certFile: join(dataDir, 'op.pem'), keyFile: join(dataDir, 'op-key.pem') },
  });
  assert.equal(operator.server.fingerprint, first.server.fingerprint);
});
