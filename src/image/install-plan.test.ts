// The image section of a kiln-image profile accepts only what the image
// writer implements: `layout` is one of `imageLayouts` (`ab` with its tries
// and health deadline; anything else refused at validation), `image.url` is
// refused; the install plan carries the layout and where the late step goes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { hasCode } from '../error/kiln-error.js';
import type { Host } from '../inventory/host.js';
import { validateProfile, loadProfiles } from '../profile/load-profiles.js';
import { sampleContext } from '../profile/testdata/sample-context.js';
import { renderImageSpec } from '../profile/render-image-spec.js';
import { buildInstallPlan, imageLayouts } from './install-plan.js';
import type { OsImage } from './image-store.js';

const root = mkdtempSync(join(tmpdir(), 'kiln-image-section-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A kiln-image profile directory whose image section has these extra lines. */
function profileDir(imageLines: string[]): string {
  const dir = join(root, `p${n++}`, 'img');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'profile.yaml'),
    [
      'name: img',
      'description: test',
      'os: { family: debian, version: "12" }',
      'arch: x86_64',
      'install:',
      '  method: kiln-image',
      'boot:',
      '  kernel: "{{ kiln.baseUrl }}/k"',
      '  initrd: ["{{ kiln.baseUrl }}/i"]',
      '  cmdline: "kiln.url={{ kiln.baseUrl }} kiln.mode=install"',
      'files: []',
      'image:',
      '  name: base',
      '  disk: auto',
      '  firmware: auto',
      ...imageLines.map((l) => `  ${l}`),
      '',
    ].join('\n'),
  );
  return dir;
}

test('layout ab (A/B roots) is accepted with its tries and health deadline; a layout the writer lacks is refused naming the line', async () => {
  assert.equal((await validateProfile(profileDir(['layout: ab', 'ab: {tries: 2, healthSeconds: 60}']))).ok, true);
  const v = await validateProfile(profileDir(['layout: raid5']));
  assert.equal(v.ok, false);
  assert.deepEqual(
    v.issues.map((i) => [i.path.replace(/^.*\//, ''), i.code]),
    [['profile.yaml:16:11', 'not_implemented']],
  );
  assert.match(v.issues[0].message, /layout "raid5" is not implemented by the image writer.*use "single"/);
  const stray = await validateProfile(profileDir(['ab: {tries: 2}']));
  assert.deepEqual(
    stray.issues.map((i) => i.code),
    ['unexpected_key'],
  );
  const bad = await validateProfile(profileDir(['layout: ab', 'ab: {tries: 12}']));
  assert.equal(bad.ok, false, 'tries above 9 (GRUB counts down one branch per value)');
});

test('every layout string is accepted exactly when the writer implements it', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.constantFrom('single', 'machine', 'ab', 'AB', 'single ', 'raid1', 'lvm'),
        fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
      ),
      async (layout) => {
        const v = await validateProfile(profileDir([`layout: "${layout}"`]));
        // `machine` is implemented but needs image.machine, the description's install file.
        assert.equal(
          v.ok,
          (imageLayouts as readonly string[]).includes(layout) && layout !== 'machine',
          `${layout}: ${JSON.stringify(v.issues)}`,
        );
        if (!v.ok)
          assert.deepEqual(
            v.issues.map((i) => i.code),
            [layout === 'machine' ? 'missing_key' : 'not_implemented'],
          );
      },
    ),
    { numRuns: 40 },
  );
});

test('layout single, or none, loads and renders as single', async () => {
  for (const lines of [['layout: single'], []]) {
    const dir = profileDir(lines);
    const { profiles, errors } = await loadProfiles(join(dir, '..'));
    assert.deepEqual(
      errors.map((e) => e.message),
      [],
    );
    const p = profiles.get('img')!;
    assert.equal(renderImageSpec(p, sampleContext(p)).layout, 'single');
  }
});

test('image.url is refused: the writer writes only images from the store, checked against their sha256', async () => {
  const v = await validateProfile(profileDir(['url: http://example.org/x.tar.gz']));
  assert.equal(v.ok, false);
  assert.deepEqual(
    v.issues.map((i) => i.code),
    ['not_implemented'],
  );
  assert.match(v.issues[0].message, /kiln image add/);
});

const host = { name: 'node-7.lab', firmware: 'uefi' } as Host;
const image: OsImage = {
  name: 'base',
  file: 'base.tar.zst',
  sha256: 'a'.repeat(64),
  format: 'tar.zst',
  sizeBytes: 1,
  addedAt: '',
};
const urls = {
  baseUrl: 'http://10.0.0.1:8080/',
  apiUrl: 'https://10.0.0.1:8443/',
  caPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};

test('the install plan carries the layout and the API and CA for the late step', () => {
  assert.deepEqual(
    buildInstallPlan({ name: 'base', disk: 'largest', firmware: 'uefi', layout: 'single' }, image, host, urls),
    {
      image: { url: 'http://10.0.0.1:8080/images/base.tar.zst', sha256: 'a'.repeat(64), format: 'tar.zst' },
      disk: 'auto',
      firmware: 'uefi',
      layout: 'single',
      hostname: 'node-7',
      network: { mode: 'dhcp' },
      api: { url: 'https://10.0.0.1:8443', caPem: urls.caPem },
      handoff: 'reboot',
    },
  );
});

test("several members: the plan names every member's base URL and API URL, this one's first, for the writer's failover", () => {
  const plan = buildInstallPlan({ name: 'base' }, image, host, {
    ...urls,
    baseUrls: ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'],
    apiUrls: ['https://10.0.0.2:8443/', 'https://10.0.0.1:8443'],
  });
  assert.deepEqual(plan.baseUrls, ['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
  assert.deepEqual(plan.api, {
    url: 'https://10.0.0.1:8443',
    urls: ['https://10.0.0.1:8443', 'https://10.0.0.2:8443'],
    caPem: urls.caPem,
  });
  // One member: no lists (the plan is as before).
  const one = buildInstallPlan({ name: 'base' }, image, host, { ...urls, baseUrls: [urls.baseUrl] });
  assert.equal(one.baseUrls, undefined);
  assert.equal(one.api.urls, undefined);
});

test('image.handoff: reboot by default, kexec when the profile asks; any other value is refused at validation', async () => {
  for (const [lines, want] of [
    [[], 'reboot'],
    [['handoff: reboot'], 'reboot'],
    [['handoff: kexec'], 'kexec'],
  ] as const) {
    const dir = profileDir([...lines]);
    const { profiles, errors } = await loadProfiles(join(dir, '..'));
    assert.deepEqual(
      errors.map((e) => e.message),
      [],
    );
    const p = profiles.get('img')!;
    const spec = renderImageSpec(p, sampleContext(p));
    assert.equal(spec.handoff, lines.length === 0 ? undefined : want);
    assert.equal(buildInstallPlan({ ...spec }, image, host, urls).handoff, want);
  }
  const v = await validateProfile(profileDir(['handoff: firmware']));
  assert.equal(v.ok, false);
  assert.match(JSON.stringify(v.issues), /handoff/);
});

test("the install plan names Kiln's syslog receiver for the late step's forwarding rule only when syslog is on", () => {
  const spec = { name: 'base' };
  assert.equal(buildInstallPlan(spec, image, host, urls).syslog, undefined);
  const on = { ...urls, syslog: { host: '10.0.0.1', port: 514 } };
  assert.deepEqual(buildInstallPlan(spec, image, host, on).syslog, { host: '10.0.0.1', port: 514 });
});

test('a stored deployment asking for a layout the writer lacks gets a clear error, not a single root', () => {
  assert.throws(
    () => buildInstallPlan({ name: 'base', disk: 'auto', firmware: 'bios', layout: 'zfs' }, image, host, urls),
    (e: unknown) => hasCode(e, 'validation_failed') && /layout "zfs" is not implemented/.test((e as Error).message),
  );
});

test('the install plan of layout ab carries its tries and health deadline, defaults filled in', () => {
  const spec = { name: 'base', disk: 'auto', firmware: 'bios', layout: 'ab' };
  assert.deepEqual(buildInstallPlan(spec, image, host, urls).ab, { tries: 3, healthSeconds: 300 });
  assert.deepEqual(buildInstallPlan({ ...spec, ab: { tries: 1, healthSeconds: 40 } }, image, host, urls).ab, {
    tries: 1,
    healthSeconds: 40,
  });
  assert.equal(buildInstallPlan({ ...spec, layout: 'single' }, image, host, urls).ab, undefined);
});

test('an image imported with its install views gets an objects section (views and their SHA-256); one without keeps the tarball only', () => {
  const id = 'c'.repeat(64);
  const views = { files: '1'.repeat(64), mtree: '2'.repeat(64), xattrs: '3'.repeat(64), hardlinks: '4'.repeat(64) };
  const plan = buildInstallPlan({ name: 'base' }, { ...image, manifest: id, views }, host, urls);
  assert.deepEqual(plan.image.objects, {
    manifest: id,
    objectsUrl: 'http://10.0.0.1:8080/images/objects',
    views: {
      files: { url: `http://10.0.0.1:8080/images/manifests/${id}/files`, sha256: views.files },
      mtree: { url: `http://10.0.0.1:8080/images/manifests/${id}/mtree`, sha256: views.mtree },
      xattrs: { url: `http://10.0.0.1:8080/images/manifests/${id}/xattrs`, sha256: views.xattrs },
      hardlinks: { url: `http://10.0.0.1:8080/images/manifests/${id}/hardlinks`, sha256: views.hardlinks },
    },
  });
  assert.equal(buildInstallPlan({ name: 'base' }, { ...image, manifest: id }, host, urls).image.objects, undefined);
  const partial = { ...image, manifest: id, views: { files: views.files } };
  assert.equal(buildInstallPlan({ name: 'base' }, partial, host, urls).image.objects, undefined);
});

test('layout machine needs image.machine naming one of the profile files; image.machine needs layout machine', async () => {
  const codes = async (lines: string[]) => (await validateProfile(profileDir(lines))).issues.map((i) => i.code);
  assert.deepEqual(await codes(['layout: machine']), ['missing_key']);
  assert.deepEqual(await codes(['layout: machine', 'machine: machine.yaml']), ['template_not_found']);
  assert.deepEqual(await codes(['machine: machine.yaml']), ['unexpected_key', 'template_not_found']);
});

test('layout machine: the install plan carries the deployment machine plan; without one it is a clear error', () => {
  const spec = { name: 'base', disk: 'auto', firmware: 'bios', layout: 'machine', machine: 'machine.yaml' };
  const machine = { network: { files: [{ name: '10-kiln-n0.network', text: '[Match]\n' }], resolvConf: '', macs: [] } };
  const plan = buildInstallPlan(spec, image, host, urls, { 'machine-plan.json': JSON.stringify(machine) });
  assert.deepEqual(plan.machine, machine);
  assert.deepEqual(plan.network, { mode: 'machine' });
  assert.throws(
    () => buildInstallPlan(spec, image, host, urls, {}),
    (err) => hasCode(err, 'validation_failed') && /keeps no machine-plan.json/.test(err.message),
  );
});

test('image.stateless renders into the spec and the plan names the squashfs root (url, sha256, size); it cannot take layout machine', async () => {
  const { profiles } = await loadProfiles(join(profileDir(['stateless: true']), '..'));
  const p = profiles.get('img')!;
  assert.equal(renderImageSpec(p, sampleContext(p)).stateless, true);
  const sq = { file: `squashfs/${'d'.repeat(64)}.squashfs`, sha256: 'd'.repeat(64), sizeBytes: 4096 };
  const plan = buildInstallPlan({ name: 'base', stateless: true }, image, host, urls, {}, sq);
  assert.equal(plan.layout, 'stateless');
  assert.deepEqual(plan.stateless, {
    squashfs: { url: `http://10.0.0.1:8080/images/${sq.file}`, sha256: sq.sha256, sizeBytes: 4096 },
  });
  assert.equal(buildInstallPlan({ name: 'base' }, image, host, urls, {}, sq).stateless, undefined, 'only when asked');
  assert.throws(
    () => buildInstallPlan({ name: 'base', stateless: true }, image, host, urls),
    (e) => hasCode(e, 'internal'),
  );
  const codes = (await validateProfile(profileDir(['stateless: true', 'layout: machine', 'machine: m.yaml']))).issues;
  assert.ok(codes.some((i) => i.code === 'unexpected_key' && /image.stateless/.test(i.message)));
});
