import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadProfiles } from './load-profiles.js';
import { renderAll } from './testdata/render-all.js';

// Runs Debian's own validators on the rendered install files of the shipped
// profiles: debconf-set-selections -c (preseed), cloud-init schema (user-data,
// outer cloud-config and the installed system's cloud-config), sh -n (every
// script and every kickstart %pre/%post body). Each validator is first shown
// to reject a broken file, so a pass means something.

const here = dirname(fileURLToPath(import.meta.url));
const { profiles, errors } = await loadProfiles(join(here, '../../profiles'));

/** Runs a tool; resolves with its exit code and output (never rejects on a non-zero exit). */
function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: 60_000 },
      (err: (Error & { code?: string | number | null }) | null, stdout: string, stderr: string) => {
        if (err && typeof err.code !== 'number') {
          reject(err);
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, out: `${stdout}${stderr}` });
      },
    );
  });
}

/** Writes `text` to a file in a fresh temp dir and returns its path (removed in `cleanUp`). */
const dirs: string[] = [];
async function tmpFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'profile-validators-'));
  dirs.push(dir);
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

/** Skip reason when `tool` is not installed. */
async function missing(tool: string): Promise<string | false> {
  const r = await run('sh', ['-c', `command -v ${tool}`]);
  return r.code === 0 ? false : `${tool} not installed (scripts/install-test-peers.sh)`;
}

const skipDebconf = await missing('debconf-set-selections');
const skipCloudInit = await missing('cloud-init');
test.afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

test('shipped profiles load', () =>
  assert.deepEqual(
    errors.map((e) => e.message),
    [],
  ));

test('debconf-set-selections -c accepts the debian-12 preseed', { skip: skipDebconf }, async () => {
  const bad = await run('debconf-set-selections', ['-c', await tmpFile('bad.cfg', 'd-i foo\nbad line\n')]);
  assert.notEqual(bad.code, 0, 'validator must reject lines without type and value');
  const preseed = renderAll(profiles.get('debian-12')!).get('preseed.cfg')!;
  const r = await run('debconf-set-selections', ['-c', await tmpFile('preseed.cfg', preseed)]);
  assert.equal(r.code, 0, r.out);
  assert.equal(r.out, '');
});

test(
  'cloud-init schema accepts the ubuntu-24.04 user-data and its installed-system cloud-config',
  { skip: skipCloudInit },
  async () => {
    const bad = await run('cloud-init', [
      'schema',
      '--config-file',
      await tmpFile('bad-ud', '#cloud-config\nautoinstall: 5\n'),
    ]);
    assert.notEqual(bad.code, 0, 'validator must reject a non-object autoinstall');
    const userData = renderAll(profiles.get('ubuntu-24.04')!).get('user-data')!;
    const r = await run('cloud-init', ['schema', '--config-file', await tmpFile('user-data', userData)]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Valid cloud-config/);
    // cloud-init 22.4 does not descend into autoinstall: check its shape here and
    // validate the cloud-config the installed system will read on first boot.
    const doc = parse(userData) as { autoinstall: Record<string, unknown> };
    const ai = doc.autoinstall;
    assert.equal(ai.version, 1);
    assert.deepEqual(ai.ssh, { 'install-server': true, 'allow-pw': false });
    assert.ok(
      Array.isArray(ai['early-commands']) && (ai['early-commands'] as unknown[]).every((c) => typeof c === 'string'),
    );
    assert.ok(
      Array.isArray(ai['late-commands']) && (ai['late-commands'] as unknown[]).every((c) => typeof c === 'string'),
    );
    assert.equal(ai.identity, undefined, 'no identity section: no password in the file');
    const installed = await tmpFile('installed-cloud-config', `#cloud-config\n${stringify(ai['user-data'])}`);
    const r2 = await run('cloud-init', ['schema', '--config-file', installed]);
    assert.equal(r2.code, 0, r2.out);
    const meta = parse(renderAll(profiles.get('ubuntu-24.04')!).get('meta-data')!) as Record<string, unknown>;
    assert.deepEqual(meta, { 'instance-id': 'kiln-h-0001', 'local-hostname': 'node07' });
  },
);

test('sh -n accepts every rendered script and every kickstart script section', async () => {
  const bad = await run('sh', ['-n', await tmpFile('bad.sh', 'if true; then\n')]);
  assert.notEqual(bad.code, 0, 'sh -n must reject an unclosed if');
  const scripts: Array<[string, string]> = [];
  for (const p of profiles.values()) {
    for (const [name, text] of renderAll(p)) {
      if (name.endsWith('.sh')) scripts.push([`${p.name}/${name}`, text]);
    }
  }
  const ks = renderAll(profiles.get('rocky-9')!).get('ks.cfg')!;
  for (const m of ks.matchAll(/^%(pre|post)[^\n]*\n([\s\S]*?)^%end$/gm))
    scripts.push([`rocky-9/ks.cfg %${m[1]}`, m[2]]);
  assert.equal(scripts.length, 6);
  for (const [name, text] of scripts) {
    const r = await run('sh', ['-n', await tmpFile('script.sh', text)]);
    assert.equal(r.code, 0, `${name}: ${r.out}`);
  }
});
