import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import { startServe } from '../../test/support/serve-process.js';

// Runs a controller process through a whole flow with known secrets, then
// scans everything it wrote or served: its log, every event, every API
// reply, rendered install files, iPXE scripts, and the raw database files.
// None may hold a clear-text password or a private key.
const rootPassword = 'Root-Pässwörd-7781';
const bmcPassword = 'Bmc-Secret-5521';
const userPassword = 'User-Passphrase-9934';
const forbidden = [rootPassword, bmcPassword, userPassword, 'PRIVATE KEY', 'BEGIN OPENSSH'];

function sshKeyLine(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
  const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), raw]);
  return `ssh-ed25519 ${blob.toString('base64')} scan@test`;
}

describe('nothing Kiln writes or serves holds a clear password or a private key', () => {
  it('scans a full flow', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-scan-'));
    const s = await startServe(['--data-dir', dir, '--log-level', 'debug']);
    const served: string[] = [];
    try {
      const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
      const call = async (
        method: string,
        path: string,
        body?: unknown,
        auth = `Bearer ${token}`,
        headers: Record<string, string> = {},
      ) => {
        const res = await fetch(`${s.url}${path}`, {
          method,
          headers: {
            authorization: auth,
            ...(body !== undefined
              ? { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' }
              : {}),
            ...headers,
          },
          body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        });
        const text = await res.text();
        served.push(text);
        return { status: res.status, text, json: () => JSON.parse(text) };
      };
      const macA = '52:54:00:5c:00:01';
      const macB = '52:54:00:5c:00:02';
      assert.equal(
        (await call('PUT', '/api/v1/secrets/site', { rootPassword, authorizedKeys: [sshKeyLine()] })).status,
        200,
      );
      assert.equal(
        (await call('POST', '/api/v1/users', { name: 'scan-user', role: 'viewer', password: userPassword })).status,
        201,
      );
      assert.equal(
        (await call('POST', '/api/v1/login', { name: 'scan-user', password: userPassword }, '')).status,
        200,
      );
      assert.equal(
        (
          await call('POST', '/api/v1/hosts', {
            name: 'scan-b',
            nics: [{ mac: macB }],
            bmc: { driver: 'ipmi', address: '127.0.0.1', username: 'admin', password: bmcPassword },
          })
        ).status,
        201,
      );
      await call('GET', `/boot/host.ipxe?mac=${encodeURIComponent(macA)}&platform=pcbios&arch=x86_64`);
      const facts = {
        bootMac: macA,
        firmware: 'bios',
        cpu: { count: 1 },
        memory: { totalBytes: 1 },
        nics: [{ mac: macA }],
        disks: [],
        pci: [],
        dmi: { vendor: 'QEMU' },
      };
      const credA = (await call('POST', '/api/v1/node/discover', { facts }, '')).json().credential as string;
      const credB = (
        await call('POST', '/api/v1/node/discover', { facts: { ...facts, bootMac: macB, nics: [{ mac: macB }] } }, '')
      ).json().credential as string;
      assert.match(credA, /^kn_/);
      assert.match(credB, /^kn_/);
      const hostA = (await call('GET', `/api/v1/hosts?mac=${macA}`)).json().items[0].name as string;
      assert.equal((await call('POST', `/api/v1/hosts/${hostA}/deploy`, { profile: 'debian-12' })).status, 200);
      const deployScript = await call(
        'GET',
        `/boot/host.ipxe?mac=${encodeURIComponent(macA)}&platform=efi&arch=x86_64`,
      );
      // The installer's own fetches (no header, the deployment's URL token in the path) serve files without secrets too.
      const installUrl = /preseed\/url=(\S+)\/preseed\.cfg/.exec(deployScript.text)?.[1];
      assert.ok(installUrl, 'the deploy script carries the install-file URL');
      for (const f of ['preseed.cfg', 'kiln-late.sh']) {
        const res = await fetch(`${installUrl}/${f}`);
        const text = await res.text();
        served.push(text);
        assert.equal(res.status, 200, `${f} by URL token`);
      }
      const newA = (await call('POST', '/api/v1/node/enrol', { mac: macA }, '')).json().credential as string;
      for (const f of ['preseed.cfg'])
        assert.equal((await call('GET', `/api/v1/node/files/${f}`, undefined, `Bearer ${newA}`)).status, 200);
      const plain = await call('GET', '/api/v1/node/secrets', undefined, `Bearer ${newA}`);
      assert.equal(plain.status, 403, 'secrets are refused over plain HTTP');
      const ca = readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8');
      const tlsRes = await undiciFetch(`${s.tlsUrl}/api/v1/node/secrets`, {
        headers: { authorization: `Bearer ${newA}` },
        dispatcher: new Agent({ connect: { ca } }),
      });
      const tlsText = await tlsRes.text();
      served.push(tlsText);
      assert.equal(tlsRes.status, 200, tlsText);
      assert.match(JSON.parse(tlsText).rootPasswordHash, /^\$6\$/);
      await call('POST', '/api/v1/node/ssh/host-certificates', `${sshKeyLine()}\n`, `Bearer ${newA}`);

      // Node B's credential (claiming B's MAC) gets B's own things only; claiming A's MAC gets a refusal.
      const bAsA = await call('GET', '/api/v1/node/secrets', undefined, `Bearer ${credB}`, { 'x-kiln-mac': macA });
      assert.equal(bAsA.status, 401);
      const bFiles = await call('GET', '/api/v1/node/files/preseed.cfg', undefined, `Bearer ${credB}`);
      assert.equal(bFiles.status, 404, "B has no deployment: it never sees A's rendered file");
      const bCert = await call('POST', '/api/v1/node/ssh/host-certificates', `${sshKeyLine()}\n`, `Bearer ${credB}`, {
        'x-kiln-mac': macA,
      });
      assert.equal(bCert.status, 401);
      const refusals = (await call('GET', '/api/v1/events?kind=node.credential_refused')).json().items;
      assert.equal(refusals.length, 2);

      for (const path of [
        '/api/v1/hosts',
        `/api/v1/hosts/${hostA}`,
        '/api/v1/hosts/scan-b',
        '/api/v1/events?limit=1000',
        '/api/v1/secrets/site',
        `/api/v1/hosts/${hostA}/deployments`,
        `/api/v1/hosts/${hostA}/deployments/current/files/preseed.cfg`,
        '/api/v1/tokens',
        '/api/v1/users',
        '/api/v1/ssh/certificates',
        '/boot.ipxe',
      ]) {
        assert.equal((await call('GET', path)).status, 200, path);
      }
    } finally {
      s.child.kill('SIGTERM');
      await s.exited;
    }
    const dbBytes = readdirSync(dir)
      .filter((f) => f.startsWith('kiln.sqlite'))
      .map((f) => readFileSync(join(dir, f)).toString('latin1'));
    const haystacks: Array<[string, string]> = [
      ['log', s.output()],
      ...served.map((t, i): [string, string] => [`reply ${i}`, t]),
      ...dbBytes.map((b, i): [string, string] => [`database file ${i}`, b]),
    ];
    assert.ok(dbBytes.length >= 1 && statSync(join(dir, 'kiln.sqlite')).size > 0);
    for (const [where, text] of haystacks) {
      for (const needle of forbidden) {
        assert.ok(
          !text.includes(needle) && !text.includes(Buffer.from(needle).toString('latin1')),
          `${where} contains ${needle}`,
        );
      }
    }
  });
});
