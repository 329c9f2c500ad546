import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from './controller.js';
import type { ControllerDeps } from '../../src/controller.js';

// The whole node-facing story through the HTTP API, in process: boot script,
// discovery and enrolment, rules, hardware change, deploy, installer
// enrolment, install files, secrets, progress, first-boot completion, SSH
// certificates, release with wipe, and every refusal on the way.
const macA = '52:54:00:aa:00:01';
const macB = '52:54:00:bb:00:02';
const facts = (mac: string, diskBytes = 2147483648) => ({
  bootMac: mac,
  firmware: 'bios',
  cpu: { model: 'QEMU Virtual CPU', count: 2 },
  memory: { totalBytes: 790000000, installedBytes: 805306368 },
  nics: [{ name: 'eth0', mac, driver: 'virtio_net', link: 'up', speedMbps: null }],
  disks: [{ name: 'vda', sizeBytes: diskBytes, model: '', serial: '', rotational: true, removable: false }],
  pci: [],
  dmi: { vendor: 'QEMU', product: 'Standard PC (i440FX + PIIX, 1996)', serial: '', uuid: 'u-1' },
  bmc: { present: false, ipAddress: '', macAddress: '' },
  lldp: null,
});

/** Runs the whole scenario on one store engine; `extra` can carry another database (PostgreSQL). */
export function nodeFlowScenario(
  engine: string,
  extra: () => Promise<{ opts: Partial<ControllerDeps>; close(): Promise<void> }>,
): void {
  describe(`node flow over the API (${engine})`, () => {
    let c: TestController;
    let credA = '';
    let closeExtra: () => Promise<void> = async () => {};
    before(async () => {
      const e = await extra();
      closeExtra = e.close;
      c = await createTestController({
        ...e.opts,
        boot: {
          imagesDir: mkdtempSync(join(tmpdir(), 'kiln-images-')),
          nodeImage: () => ({ dir: '/nonexistent', arch: 'x86_64' }),
        },
      });
    });
    after(async () => {
      await c.close();
      await closeExtra();
    });

    const node = (
      method: 'GET' | 'POST',
      url: string,
      cred: string | null,
      payload?: unknown,
      headers: Record<string, string> = {},
    ) =>
      c.app.inject({
        method,
        url: `/api/v1/node/${url}`,
        payload: payload as object,
        headers: { ...(cred ? { authorization: `Bearer ${cred}` } : {}), ...headers },
      });
    const api = (
      method: 'GET' | 'POST' | 'PUT',
      url: string,
      payload?: unknown,
      who: 'admin' | 'operator' | 'viewer' = 'admin',
    ) =>
      c.app.inject({
        method,
        url: `/api/v1/${url}`,
        payload: payload as object,
        headers: { authorization: c.bearer[who] },
      });
    const script = async (mac: string, platform = 'pcbios') =>
      (
        await c.app.inject({
          url: `/boot/host.ipxe?mac=${encodeURIComponent(mac)}&uuid=u-1&arch=x86_64&platform=${platform}`,
        })
      ).body;
    // Boot events are written after the answer (group commit): wait for them before reading.
    const events = async (host: string, kind: string) =>
      (await c.boot.flushEvents(), await api('GET', `hosts/${host}/events?limit=1000`))
        .json()
        .items.filter((e: { kind: string }) => e.kind === kind);

    it('serves the chain script and creates an unknown MAC as a host sent to discovery', async () => {
      const chain = await c.app.inject({ url: '/boot.ipxe' });
      assert.equal(chain.statusCode, 200);
      assert.match(
        chain.body,
        /host\.ipxe\?mac=\$\{net0\/mac\}&uuid=\$\{uuid\}&arch=\$\{buildarch\}&platform=\$\{platform\}/,
      );
      const s = await script(macA);
      assert.match(s, /kiln\.mode=discover kiln\.mac=52:54:00:aa:00:01/);
      const h = (await api('GET', `hosts?mac=${macA}`)).json().items[0];
      assert.equal(h.state, 'discovering');
      assert.equal((await events(h.name, 'boot.script')).length, 1);
    });

    it('a rule is saved (validated) and applied on the first facts; the first report enrols', async () => {
      const bad = await api(
        'PUT',
        'rules/qemu',
        { match: { vendor: 'QEMU' }, assign: { profile: 'no-such-profile' } },
        'operator',
      );
      assert.equal(bad.statusCode, 400);
      const ok = await api(
        'PUT',
        'rules/qemu',
        {
          match: { vendor: 'QEMU', cpuCountAtLeast: 2 },
          assign: { name: 'vm-{mac}', profile: 'kiln-image', tags: ['vm'] },
        },
        'operator',
      );
      assert.equal(ok.statusCode, 200, ok.body);
      const res = await node('POST', 'discover', null, { facts: facts(macA) });
      assert.equal(res.statusCode, 200, res.body);
      credA = res.json().credential;
      assert.match(credA, /^kn_/);
      assert.equal(res.json().name, 'vm-525400aa0001');
      const h = (await api('GET', 'hosts/vm-525400aa0001')).json();
      assert.equal(h.state, 'ready');
      assert.equal(h.profile, 'kiln-image');
      assert.deepEqual(h.tags, ['vm']);
      assert.match(h.hardwareHash, /^sha256:/);
      assert.equal(h.facts.cpu.count, 2);
      assert.match(await script(macA), /sanboot --no-describe --drive 0x80/);
    });

    it('a second report without the credential is refused and recorded; with it, a hardware change is a diff event', async () => {
      const again = await node('POST', 'discover', null, { facts: facts(macA) });
      assert.equal(again.statusCode, 403);
      assert.equal(again.json().error.code, 'enrolment_closed');
      assert.equal((await events('vm-525400aa0001', 'node.enrol_refused')).length, 1);
      const changed = await node('POST', 'discover', credA, { facts: facts(macA, 4294967296) });
      assert.equal(changed.statusCode, 200, changed.body);
      assert.equal(changed.json().credential, undefined);
      const diff = await events('vm-525400aa0001', 'host.hardware_changed');
      assert.equal(diff.length, 1);
      assert.match(diff[0].message, /disk vda\s+2147483648 bytes rotational\s+4294967296 bytes rotational/);
      assert.equal((await api('GET', 'hosts/vm-525400aa0001')).json().needsAttention, true);
    });

    it("another host cannot use A's credential; a guessed one is refused", async () => {
      assert.equal((await api('POST', 'hosts', { name: 'b', nics: [{ mac: macB }] }, 'operator')).statusCode, 201);
      const asB = await node('GET', 'next', credA, undefined, { 'x-kiln-mac': macB });
      assert.equal(asB.statusCode, 401);
      assert.equal(asB.json().error.code, 'credential_invalid');
      const guessed = await node('GET', 'next', 'kn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
      assert.equal(guessed.statusCode, 401);
      const refusals = (await api('GET', 'events?kind=node.credential_refused')).json().items;
      assert.equal(refusals.length, 2);
      assert.match(refusals[0].message, /presented by MAC 52:54:00:bb:00:02/);
    });

    it('deploy renders and keeps the files, arms one enrolment, and the host script boots the installer', async () => {
      const dep = await api(
        'POST',
        'hosts/vm-525400aa0001/deploy',
        { variables: { imageName: 'busybox-test' } },
        'operator',
      );
      assert.equal(dep.statusCode, 200, dep.body);
      assert.deepEqual(dep.json().deployment.files, [], 'the image writer fetches secrets and its certificate itself');
      assert.equal(dep.json().host.state, 'deploying');
      const s = await script(macA, 'efi');
      assert.match(
        s,
        /^kernel http:\/\/192\.0\.2\.1:8080\/boot\/kiln\/x86_64\/vmlinuz initrd=initrd\.img kiln\.url=.* kiln\.mode=install/m,
      );
      const enrol = await node('POST', 'enrol', null, { mac: macA });
      assert.equal(enrol.statusCode, 200, enrol.body);
      const credInstall = enrol.json().credential;
      assert.notEqual(credInstall, credA);
      assert.equal((await node('POST', 'enrol', null, { mac: macA })).statusCode, 403, 'enrolment is once per arming');
      assert.equal((await node('GET', 'next', credA)).statusCode, 401, 'the old credential was replaced');
      credA = credInstall;
      const missing = await node('GET', 'install-plan', credA);
      assert.equal(missing.statusCode, 404, 'no such image in the store yet');
      assert.match(missing.json().error.message, /kiln image add busybox-test/);
      const tar = join(mkdtempSync(join(tmpdir(), 'kiln-img-')), 'rootfs.tar.gz');
      writeFileSync(tar, gzipSync(Buffer.alloc(1024)));
      const img = await c.images.add('busybox-test', tar);
      const plan = await node('GET', 'install-plan', credA);
      assert.equal(plan.statusCode, 200, plan.body);
      assert.deepEqual(plan.json(), {
        image: { url: 'http://192.0.2.1:8080/images/busybox-test.tar.gz', sha256: img.sha256, format: 'tar.gz' },
        disk: 'auto',
        firmware: 'bios',
        layout: 'single',
        hostname: 'vm-525400aa0001',
        network: { mode: 'dhcp' },
        // Where the writer's late step fetches secrets and its host certificate, and the CA that verifies it.
        api: { url: 'http://192.0.2.1:8080', caPem: '' },
        // The profile names no image.handoff: a firmware reboot.
        handoff: 'reboot',
      });
      assert.doesNotMatch(plan.body, /\$6\$|PRIVATE KEY|kn_/, 'no secret in the plan');
      assert.equal((await node('GET', 'next', credA)).json().action, 'reboot');
    });

    it('secrets: clear password hashed at input, served only as $6$ to the node, never to operators', async () => {
      const { publicKey } = generateKeyPairSync('ed25519');
      const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
      const blob = Buffer.concat([
        Buffer.from([0, 0, 0, 11]),
        Buffer.from('ssh-ed25519'),
        Buffer.from([0, 0, 0, 32]),
        raw,
      ]);
      const key = `ssh-ed25519 ${blob.toString('base64')} op@lab`;
      const put = await api('PUT', 'secrets/site', { rootPassword: 'correct horse battery', authorizedKeys: [key] });
      assert.equal(put.statusCode, 200, put.body);
      assert.deepEqual(put.json(), { hasRootPassword: true, authorizedKeys: [key] });
      assert.equal((await api('PUT', 'secrets/site', { rootPasswordHash: 'plaintext' })).statusCode, 400);
      const s = await node('GET', 'secrets', credA);
      assert.match(s.json().rootPasswordHash, /^\$6\$/);
      assert.ok(!s.body.includes('correct horse'));
      const text = await node('GET', 'secrets', credA, undefined, { accept: 'text/plain' });
      assert.match(text.body, /^root-password-hash \$6\$.*\nauthorized-key ssh-ed25519 /);
      assert.equal((await node('GET', 'secrets', null)).statusCode, 401);
      const all = JSON.stringify((await api('GET', 'events?limit=1000')).json());
      assert.ok(
        !all.includes('correct horse') && !all.includes('$6$'),
        'events hold neither the password nor its hash',
      );
    });

    it('installed → next boot exits to disk; first boot completes the deploy', async () => {
      assert.equal(
        (await node('POST', 'progress', credA, { stage: 'installed', message: 'image written', handoff: 'kexec' }))
          .statusCode,
        200,
      );
      // How the writer hands off is kept with the progress event.
      const installed = (await events('vm-525400aa0001', 'node.progress')).find(
        (e: { data: { stage: string } }) => e.data.stage === 'installed',
      );
      assert.equal(installed?.data.handoff, 'kexec');
      assert.match(await script(macA), /sanboot --no-describe --drive 0x80/);
      const done = await node('POST', 'complete', credA, { stage: 'firstboot' });
      assert.equal(done.json().state, 'deployed');
    });

    it("signs the node's host keys and revokes them into the KRL", async () => {
      const { publicKey } = generateKeyPairSync('ed25519');
      const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
      const blob = Buffer.concat([
        Buffer.from([0, 0, 0, 11]),
        Buffer.from('ssh-ed25519'),
        Buffer.from([0, 0, 0, 32]),
        raw,
      ]);
      const res = await c.app.inject({
        method: 'POST',
        url: '/api/v1/node/ssh/host-certificates',
        headers: { authorization: `Bearer ${credA}`, 'content-type': 'text/plain' },
        payload: `ssh-ed25519 ${blob.toString('base64')} root@vm\n`,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.body, /^ssh-ed25519-cert-v01@openssh\.com AAAA\S+ host:vm-525400aa0001:ssh-ed25519\n$/);
      const kh = await api('GET', 'ssh/known-hosts', undefined, 'viewer');
      assert.match(kh.body, /^@cert-authority \* ssh-ed25519 AAAA/);
      const certs = (await api('GET', 'ssh/certificates?host=vm-525400aa0001', undefined, 'viewer')).json().items;
      assert.deepEqual(certs[0].principals, ['vm-525400aa0001', 'vm-525400aa0001.lab.test', '127.0.0.1']);
      const krl0 = (await c.app.inject({ url: '/api/v1/ssh/revoked-keys' })).rawPayload;
      assert.equal(
        (await api('POST', 'hosts/vm-525400aa0001/ssh/revoke', { reason: 'test' }, 'operator')).json().revoked.length,
        1,
      );
      const krl1 = (await c.app.inject({ url: '/api/v1/ssh/revoked-keys' })).rawPayload;
      assert.equal(krl1.subarray(0, 8).toString(), 'SSHKRL\n\0');
      assert.ok(krl1.length > krl0.length);
    });

    it('release with wipe boots the wipe image and returns to ready when the node reports', async () => {
      const rel = await api('POST', 'hosts/vm-525400aa0001/release', { wipe: true }, 'operator');
      assert.equal(rel.json().state, 'releasing');
      assert.match(await script(macA), /kiln\.mode=wipe/);
      const wipeCred = (await node('POST', 'enrol', null, { mac: macA })).json().credential;
      assert.equal((await node('POST', 'complete', wipeCred, { stage: 'wipe' })).json().state, 'ready');
    });

    it('a node rotates its credential; the old one stops working', async () => {
      const fresh = await c.app.inject({
        method: 'POST',
        url: '/api/v1/hosts',
        headers: { authorization: c.bearer.operator },
        payload: { name: 'rot', nics: [{ mac: '52:54:00:cc:00:03' }] },
      });
      assert.equal(fresh.statusCode, 201);
      const first = (await node('POST', 'discover', null, { facts: facts('52:54:00:cc:00:03') })).json().credential;
      const rotated = await node('POST', 'credential/rotate', first);
      assert.equal(rotated.statusCode, 200);
      const second = rotated.json().credential;
      assert.notEqual(second, first);
      assert.equal((await node('GET', 'next', second)).statusCode, 200);
      assert.equal((await node('GET', 'next', first)).statusCode, 401);
    });

    it("a host the boot created with one NIC gets the report's other NICs; a MAC another host has stays with it", async () => {
      const [boot, second, owned] = ['52:54:00:cc:10:01', '52:54:00:cc:10:02', '52:54:00:cc:10:03'];
      const owner = await api('POST', 'hosts', { name: 'nic-owner', nics: [{ mac: owned }] }, 'operator');
      assert.equal(owner.statusCode, 201, owner.body);
      assert.match(await script(boot), /kiln\.mode=discover/);
      assert.deepEqual(
        (await api('GET', `hosts?mac=${boot}`)).json().items[0].nics.map((n: { mac: string }) => n.mac),
        [boot],
        'DHCP or the script knows the boot NIC only',
      );
      const report = facts(boot);
      report.nics = [boot, second, owned].map((mac, i) => ({
        name: `ens${3 + i}`,
        mac,
        driver: 'virtio_net',
        link: 'up',
        speedMbps: null,
      }));
      const res = await node('POST', 'discover', null, { facts: report });
      assert.equal(res.statusCode, 200, res.body);
      const h = (await api('GET', `hosts/${res.json().name}`)).json();
      assert.deepEqual(h.nics, [
        { mac: boot, name: null, boot: true },
        { mac: second, name: 'ens4', boot: false },
      ]);
      assert.equal((await api('GET', `hosts?mac=${second}`)).json().items[0].id, h.id);
      assert.equal((await api('GET', `hosts?mac=${owned}`)).json().items[0].name, 'nic-owner');
      const attached = (await events(h.name, 'host.updated')).filter((e: { reason: string | null }) =>
        /discovery reported NIC/.test(e.reason ?? ''),
      );
      assert.equal(attached.length, 1);
      assert.equal(attached[0].reason, `discovery reported NIC ${second}, not yet attached to a host`);
    });

    it('failed credential attempts are rate-limited per source', async () => {
      let last = 0;
      for (let i = 0; i < 30; i++) {
        last = (await node('GET', 'next', `kn_${String(i).padStart(43, 'x')}`)).statusCode;
        if (last === 429) break;
      }
      assert.equal(last, 429);
    });
  });
}
