// A kiln-image profile with layout `machine`: the deploy renders the machine
// description (a Liquid install file), checks it against the host's stored
// facts and keeps the concrete plan as the deployment's machine-plan.json,
// which the install plan carries to the writer. A description that does not
// fit the host's disks is refused with layout_unfit before anything is
// stored: no deployment, the host still ready. The host certificate the
// writer's late step gets names the description's static address.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTestController, repoProfilesDir } from '../../test/support/controller.js';
import { buildInstallPlan } from '../image/install-plan.js';
import type { MachinePlan } from '../machine/plan-machine.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-machine-deploy-'));
after(() => rmSync(dir, { recursive: true, force: true }));
cpSync(join(repoProfilesDir, '_snippets'), join(dir, '_snippets'), { recursive: true });
mkdirSync(join(dir, 'mirror', 'templates'), { recursive: true });
writeFileSync(
  join(dir, 'mirror', 'profile.yaml'),
  `name: mirror
description: two-disk mirror
os: { family: debian, version: "12" }
arch: x86_64
install: { method: kiln-image }
boot:
  kernel: "{{ kiln.baseUrl }}/k"
  initrd: ["{{ kiln.baseUrl }}/i"]
  cmdline: "kiln.url={{ kiln.baseUrl }} kiln.mode=install"
files:
  - { name: machine.yaml, template: templates/machine.yaml }
image: { name: base, disk: auto, firmware: auto, layout: machine, machine: machine.yaml }
variables:
  rootSize: { description: root LV size, default: 1GiB }
`,
);
writeFileSync(
  join(dir, 'mirror', 'templates', 'machine.yaml'),
  `storage:
  disks:
{%- for n in (0..1) %}
    - id: d{{ n }}
      match: { minSize: 2GiB }
      partitions:
        - { id: bios{{ n }}, size: 1MiB, type: bios-boot }
        - { id: r{{ n }}, size: rest, type: raid }
{%- endfor %}
  raids: [{ id: md0, level: 1, members: [r0, r1] }]
  volumeGroups: [{ id: vg, name: sys, physical: [md0], volumes: [{ id: root, name: root, size: "{{ profile.rootSize }}" }] }]
  filesystems: [{ device: root, type: ext4, mount: / }]
network:
  interfaces: [{ id: n0, boot: true }]
  addressing: [{ link: n0, addresses: [reservation], gateway: reservation }]
`,
);

const GiB = 1024 ** 3;
const facts = (sizes: number[]) => ({
  disks: sizes.map((s, i) => ({
    name: `sd${'ab'[i]}`,
    sizeBytes: s,
    model: 'M',
    serial: `s${i}`,
    rotational: true,
    removable: false,
  })),
  nics: [{ name: 'eth0', mac: '52:54:00:00:10:01' }],
});

test('layout machine: the plan is kept with the deployment and carried in the install plan; a layout that does not fit is refused before anything is stored', async () => {
  const c = await createTestController({
    profilesDir: dir,
    machineSubnets: [{ cidr: '10.88.40.0/24', router: '10.88.40.1', dns: ['10.88.40.53'] }],
  });
  try {
    const op = { authorization: c.bearer.operator };
    const post = (url: string, payload: object) => c.app.inject({ method: 'POST', url, headers: op, payload });
    for (const [name, sizes] of [
      ['fits', [4 * GiB, 4 * GiB]],
      ['small', [4 * GiB, 1 * GiB]],
    ] as const) {
      const r = await post('/api/v1/hosts', {
        name,
        state: 'ready',
        nics: [{ mac: name === 'fits' ? '52:54:00:00:10:01' : '52:54:00:00:10:02', boot: true }],
        labels: { 'dhcp.ip': '10.88.40.7' },
      });
      assert.equal(r.statusCode, 201, r.body);
      await c.inventory.recordFacts(
        name,
        { facts: facts([...sizes]), hardwareHash: null, needsAttention: false, firmware: 'bios' },
        'test',
      );
    }

    const ok = await post('/api/v1/hosts/fits/deploy', { profile: 'mirror' });
    assert.equal(ok.statusCode, 200, ok.body);
    const host = await c.inventory.getHost('fits');
    const d = (await c.deploy.currentDeployment(host.id))!;
    const plan = JSON.parse(d.files['machine-plan.json']!) as MachinePlan;
    assert.deepEqual(
      plan.storage!.disks.map((x) => x.device),
      ['/dev/sda', '/dev/sdb'],
    );
    assert.ok(
      plan.storage!.steps.some(
        (s) =>
          'tool' in s &&
          s.tool === 'lvm' &&
          s.args.join(' ') === 'lvcreate --yes --wipesignatures y --name root --size 1024m sys',
      ),
    );
    assert.match(plan.network!.files[0]!.text, /Address=10\.88\.40\.7\/24\nGateway=10\.88\.40\.1\nDNS=10\.88\.40\.53/);
    const installPlan = buildInstallPlan(
      d.imageSpec!,
      { name: 'base', file: 'b.tar.gz', sha256: 'a'.repeat(64), format: 'tar.gz', sizeBytes: 1, addedAt: '' },
      host,
      { baseUrl: 'http://192.0.2.1:8080', apiUrl: 'https://192.0.2.1:8443', caPem: '' },
      d.files,
    );
    assert.equal(installPlan.layout, 'machine');
    assert.deepEqual(installPlan.network, { mode: 'machine' });
    assert.deepEqual(installPlan.machine, plan);
    assert.deepEqual(plan.network!.addresses, ['10.88.40.7']);

    // The writer's late step: the host certificate names the static address too (ssh to it verifies).
    const enrol = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/enrol',
      payload: { mac: '52:54:00:00:10:01' },
    });
    assert.equal(enrol.statusCode, 200, enrol.body);
    const raw = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
    const blob = Buffer.concat([
      Buffer.from([0, 0, 0, 11]),
      Buffer.from('ssh-ed25519'),
      Buffer.from([0, 0, 0, 32]),
      raw,
    ]);
    const cert = await c.app.inject({
      method: 'POST',
      url: '/api/v1/node/ssh/host-certificates',
      headers: {
        authorization: `Bearer ${enrol.json<{ credential: string }>().credential}`,
        'content-type': 'text/plain',
      },
      payload: `ssh-ed25519 ${blob.toString('base64')} root@fits\n`,
    });
    assert.equal(cert.statusCode, 200, cert.body);
    const issued = await c.app.inject({
      url: '/api/v1/hosts/fits/events?limit=1000',
      headers: op,
    });
    const events = issued.json<{ items: Array<{ kind: string; data: { principals: string[] } }> }>().items;
    const principals = events.filter((e) => e.kind === 'ssh.host_certificate').map((e) => e.data.principals);
    assert.equal(principals.length, 1);
    assert.equal(principals[0]![0], 'fits');
    assert.ok(principals[0]!.includes('10.88.40.7'), JSON.stringify(principals));

    const refused = await post('/api/v1/hosts/small/deploy', { profile: 'mirror' });
    assert.equal(refused.statusCode, 422, refused.body);
    const body = (
      refused.json() as { error: { code: string; message: string; issues: Array<{ code: string; path: string }> } }
    ).error;
    assert.equal(body.code, 'layout_unfit');
    assert.match(body.message, /host small: disk "d1" needs at least 2048 MiB \(match.minSize\).*sdb 1024 MiB/);
    assert.deepEqual(
      body.issues.map((i) => [i.code, i.path]),
      [['disk_too_small', '/storage/disks/1/partitions']],
    );
    const small = await c.inventory.getHost('small');
    assert.equal(small.state, 'ready');
    assert.equal(await c.deploy.currentDeployment(small.id), null);
  } finally {
    await c.close();
  }
});
