// A stateless host end to end under QEMU (TCG) against the real controller
// (in process, reached by the VM over HTTP and HTTPS through a small relay
// that keeps the VM's source address): the kiln-image-stateless profile is
// deployed with the CI test image; the node image boots in kiln.mode=stateless
// on a blank disk, asks for an identity and waits until the test approves it
// (`POST /hosts/:host/approve`, what `kiln host approve` calls), makes its
// kiln-id partition, fetches the squashfs root the controller built with
// mksquashfs, runs it from RAM and calls home. A reboot comes back with the
// same SSH host key and credential and no new request; a wiped identity
// partition (a blank disk again) waits for approval with no credential issued,
// and gets a new one only after approval. Runs with KILN_STATELESS_E2E=1
// (scripts/stateless-e2e.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { loadTrust } from '../trust/load-trust.js';
import { createImageStore } from '../image/image-store.js';
import { hashSecret } from '../trust/credential/node-credential.js';
import { buildDiscoveryImage } from './build-discovery-image.js';
import { buildTestImage } from './build-test-image.js';
import { createVmNetwork, startVm, type VmNetwork } from './test-vm.js';

const cacheDir = process.env.KILN_IMAGE_CACHE ?? join(tmpdir(), 'kiln-image-cache');
// Three TCG boots take minutes (measured 527 s on the loaded 2-core build machine): past the CI budget, so a
// script runs it (scripts/stateless-e2e.sh sets KILN_STATELESS_E2E=1).
const skip = !canUseNetns()
  ? 'needs root for namespaces'
  : process.env['KILN_STATELESS_E2E'] !== '1'
    ? 'three QEMU boots take minutes: bash scripts/stateless-e2e.sh'
    : false;
const mac = '52:54:00:4b:22:19';

/** One request the VM made, as the relay saw it. */
interface Seen {
  method: string;
  path: string;
  auth: string;
  body: string;
  status: number;
  reply: string;
  at: number;
}

/** Relays HTTP(S) requests into the controller's app (app.inject) with the caller's address. */
function relay(c: TestController, seen: Seen[]): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const r = await c.app.inject({
        method: req.method as 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        payload: body,
        remoteAddress: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      });
      const path = (req.url ?? '/').split('?')[0];
      const text = path.startsWith('/api/') ? r.payload : '';
      seen.push({
        method: req.method ?? '',
        path,
        auth: req.headers.authorization ?? '',
        body: body.toString('utf8'),
        status: r.statusCode,
        reply: text,
        at: Date.now(),
      });
      const headers = { ...r.headers };
      delete headers['transfer-encoding'];
      delete headers['connection'];
      res.writeHead(r.statusCode, headers as Record<string, string>);
      res.end(req.method === 'HEAD' ? undefined : r.rawPayload);
    })().catch((err: Error) => {
      res.writeHead(500).end(err.message);
    });
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref());

async function waitFor<T>(what: string, ms: number, f: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

test(
  'a stateless host runs from RAM, keeps its identity across a reboot, and waits for approval when it is wiped',
  { skip, timeout: 1_500_000 },
  async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'kiln-stateless-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    let t0 = Date.now();
    const nodeImage = await buildDiscoveryImage({ cacheDir });
    const rootfs = await buildTestImage({ cacheDir });
    t.diagnostic(`images ready in ${Date.now() - t0} ms (test image ${rootfs.sizeBytes} bytes)`);
    const network: VmNetwork = createVmNetwork('stl', work, `10.43.${Math.floor(Math.random() * 250)}`);
    t.after(() => network.stop());
    const trust = await loadTrust({
      dataDir: join(work, 'kiln'),
      server: { kind: 'issue', dnsNames: [], ipAddresses: [network.hostIp] },
    });
    const imagesDir = join(work, 'images');
    await createImageStore(imagesDir).add('test', rootfs.tarPath);
    const urls = { baseUrl: '', apiUrl: '' };
    const c = await createTestController({
      boot: { imagesDir },
      sshCa: trust.sshCa,
      urls: () => ({ ...urls, caPem: trust.tlsCa.certPem }),
    });
    t.after(() => c.close());
    const seen: Seen[] = [];
    const http = createServer(relay(c, seen));
    const https = createHttpsServer({ cert: trust.server.certPem, key: trust.server.keyPem }, relay(c, seen));
    await new Promise<void>((r) => http.listen(0, network.hostIp, r));
    await new Promise<void>((r) => https.listen(0, network.hostIp, r));
    t.after(() => {
      for (const s of [http, https]) {
        s.closeAllConnections();
        s.close();
      }
    });
    urls.baseUrl = `http://${network.hostIp}:${(http.address() as AddressInfo).port}`;
    urls.apiUrl = `https://${network.hostIp}:${(https.address() as AddressInfo).port}`;

    const op = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
      c.app.inject({
        method,
        url,
        ...(payload ? { payload: payload as Record<string, unknown> } : {}),
        headers: { authorization: c.bearer.operator },
      });
    // The host is known (discovered earlier, so it holds a credential from then); then the stateless profile is deployed.
    const found = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/discover',
      payload: { facts: { bootMac: mac, firmware: 'bios', nics: [{ name: 'eth0', mac }] } },
    });
    assert.equal(found.statusCode, 200, found.body);
    const host = found.json().name as string;
    const hostId = found.json().hostId as string;
    const deployed = await op('POST', `/api/v1/hosts/${host}/deploy`, {
      profile: 'kiln-image-stateless',
      variables: { imageName: 'test', kernelArgs: 'console=ttyS0 kiln.approval-poll=1' },
    });
    assert.equal(deployed.statusCode, 200, deployed.body);
    const boot = (deployed.json() as { deployment: { bootSpec: { cmdline: string } } }).deployment.bootSpec;
    assert.match(boot.cmdline, /kiln\.mode=stateless/);

    const events = (kind: string) =>
      c.db.selectFrom('events').selectAll().where('kind', '=', kind).where('host_id', '=', hostId).execute();
    const credentialHash = async () =>
      (await c.db.selectFrom('node_trust').select('credential_hash').where('host_id', '=', hostId).executeTakeFirst())
        ?.credential_hash ?? null;
    const hostKeyOf = (since: number) =>
      seen.find((s) => s.path === '/api/v1/node/ssh/host-certificates' && s.at >= since && s.status === 200)?.body;

    /** Boots the node image on `disk` until the image's first-boot call; `approve` runs when the node waits for approval. */
    async function bootOnce(name: string, disk: string, expectApproval: boolean) {
      const serialLog = join(work, `serial-${name}.log`);
      const start = Date.now();
      const vm = startVm({
        network,
        mac,
        disk,
        serialLog,
        firmware: 'bios',
        workDir: work,
        kernel: nodeImage.kernelPath,
        initrd: nodeImage.initrdPath,
        memoryMiB: 1024,
        append: `${boot.cmdline} BOOTIF=01-${mac.replaceAll(':', '-')}`,
      });
      t.after(() => vm.stop());
      const exited = vm.exited.then((code) => {
        throw new Error(`QEMU exited (${code})`);
      });
      try {
        let waited: { claims: number; ms: number } | null = null;
        if (expectApproval) {
          const before = await credentialHash();
          const pending = await Promise.race([
            exited,
            waitFor('the identity request', 600_000, async () =>
              (await events('node.identity_pending')).find((e) => Date.parse(e.at) >= start - 1000),
            ),
          ]);
          const code = (JSON.parse(pending.data ?? '{}') as { code: string }).code;
          // Waiting: claims answered "pending", and no credential is issued meanwhile.
          await waitFor('three claims while pending', 120_000, () =>
            seen.filter((s) => s.path === '/api/v1/node/identity/claim' && s.at >= start).length >= 3
              ? true
              : undefined,
          );
          const claims = seen.filter((s) => s.path === '/api/v1/node/identity/claim' && s.at >= start);
          assert.ok(claims.every((s) => s.status === 200 && JSON.parse(s.reply).status === 'pending'));
          assert.ok(
            claims.every((s) => !s.reply.includes('kn_')),
            'no credential before approval',
          );
          assert.equal(await credentialHash(), before, 'no credential issued while waiting for approval');
          const timeline = await op('GET', `/api/v1/hosts/${host}/timeline`);
          if (timeline.statusCode === 200) t.diagnostic(`timeline while waiting: ${timeline.body.slice(0, 600)}`);
          waited = { claims: claims.length, ms: Date.now() - start };
          const ok = await op('POST', `/api/v1/hosts/${host}/approve`, { code });
          assert.equal(ok.statusCode, 200, ok.body);
        }
        const done = await Promise.race([
          exited,
          waitFor('the first-boot call', 600_000, () =>
            seen.find((s) => s.path === '/api/v1/node/complete' && s.at >= start && s.status === 200),
          ),
        ]);
        t.diagnostic(`${name}: power-on to the image's first-boot call ${Date.now() - start} ms`);
        const log = readFileSync(serialLog, 'utf8');
        assert.match(log, /kiln-test-image: booted from disk as node-/, 'the image init ran (from the squashfs)');
        assert.match(log, /kiln-test-image: sshd listening/);
        return { bearer: done.auth, hostKey: hostKeyOf(start), waited, start, log };
      } catch (err) {
        t.diagnostic(readFileSync(serialLog, 'utf8').slice(-4000));
        throw err;
      } finally {
        vm.stop();
        await Promise.race([vm.exited, sleep(10_000)]);
      }
    }

    const disk = join(work, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1G']);
    const old = await credentialHash();

    t0 = Date.now();
    const first = await bootOnce('first', disk, true);
    t.diagnostic(`first boot: waited for approval after ${first.waited?.ms} ms, ${first.waited?.claims} claims`);
    assert.match(first.log, /identity partition \/dev\/vda1 \(kiln-id\) made on \/dev\/vda/);
    assert.match(first.bearer, /^Bearer kn_/);
    assert.equal(
      await credentialHash(),
      hashSecret(first.bearer.slice(7)),
      'the controller holds the claimed credential',
    );
    assert.notEqual(await credentialHash(), old);
    assert.ok(first.hostKey, 'the host key was certified');
    const sq = seen.find((s) => s.path.startsWith('/images/squashfs/'));
    assert.ok(sq && sq.status === 200, 'the squashfs root was fetched from the controller');
    assert.equal(
      (await c.db.selectFrom('hosts').select('state').where('id', '=', hostId).executeTakeFirstOrThrow()).state,
      'deployed',
    );

    const second = await bootOnce('reboot', disk, false);
    assert.equal(second.bearer, first.bearer, 'same credential after a reboot');
    assert.equal(second.hostKey, first.hostKey, 'same SSH host key after a reboot');
    assert.match(second.log, /host key kept on kiln-id/);
    assert.equal(
      seen.filter((s) => s.path === '/api/v1/node/identity/request' && s.at >= second.start).length,
      0,
      'no identity request on a reboot',
    );
    assert.equal((await events('node.enrolled')).length, 2, 'discovery and the first approval only');

    // The identity partition wiped: a blank disk again.
    const wiped = join(work, 'wiped.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', wiped, '1G']);
    const third = await bootOnce('wiped', wiped, true);
    assert.notEqual(third.bearer, first.bearer, 'a new credential, after approval');
    assert.notEqual(third.hostKey, first.hostKey, 'a new host key');
    const stale = await c.app.inject({
      method: 'GET',
      url: '/api/v1/node/next',
      headers: { authorization: first.bearer },
    });
    assert.equal(stale.statusCode, 401, 'the credential from before the wipe no longer works');
    assert.equal((await events('node.identity_approved')).length, 2);
    t.diagnostic(`three boots in ${Date.now() - t0} ms`);
  },
);
