// `kiln host power|bootdev|power-on-batch|deploy|release|rearm`, `kiln bmc enlist`
// and `kiln profile …` in process against a controller listening on loopback,
// with fake BMCs registered as an extra driver.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestController, repoProfilesDir, type TestController } from '../../../test/support/controller.js';
import {
  createBrokenPowerDriver,
  createFakePowerDriver,
  type FakeMachine,
} from '../../power/fake/fake-power-driver.js';
import type { SystemSummary } from '../../power/power-driver.js';
import { runCli } from '../main.js';

const secret = 'cli-BMC-secret-9931';
const machines = new Map<string, FakeMachine>();
const extraDrivers = {
  lab: (s: { address: string; options?: Record<string, unknown> }) => {
    const f = createFakePowerDriver({ systems: s.options?.['systems'] as SystemSummary[] | undefined });
    machines.set(s.address, f.machine);
    return f.driver;
  },
  broken: () => createBrokenPowerDriver('BMC says: chassis busy'),
};

describe('kiln power, deploy and profile commands', () => {
  let c: TestController;
  let server: string;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-power-cli-'));
  const printed: string[] = [];
  let operator: Record<string, string>;

  async function kiln(argv: string[], env: Record<string, string | undefined> = {}) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(
      argv,
      {
        KILN_SERVER: server,
        KILN_DATA_DIR: join(dir, 'no-data'),
        XDG_CONFIG_HOME: join(dir, 'xdg'),
        ...operator,
        ...env,
      },
      { out: (s) => out.push(s), err: (s) => err.push(s) },
    );
    printed.push(...out, ...err);
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  }

  before(async () => {
    c = await createTestController({ powerConfig: { timeoutMs: 2000, extraDrivers } });
    server = await c.app.listen({ host: '127.0.0.1', port: 0 });
    operator = { KILN_TOKEN: c.bearer.operator.slice('Bearer '.length) };
    for (const n of ['p1', 'p2'])
      await c.inventory.createHost(
        { name: n, nics: [], bmc: { driver: 'lab', address: `bmc-${n}`, password: secret } },
        { actor: 'test' },
      );
    await c.inventory.createHost(
      { name: 'p3', nics: [], bmc: { driver: 'broken', address: 'bmc-p3' } },
      { actor: 'test' },
    );
  });
  after(async () => {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
    assert.ok(!printed.join('\n').includes(secret), 'the BMC password was printed');
  });

  it('host power on/status/cycle and bootdev', async () => {
    const on = await kiln(['host', 'power', 'p1', 'on', '--reason', 'cli test']);
    assert.equal(on.code, 0, on.stderr);
    assert.equal(on.stdout, 'p1: power on done');
    assert.equal(machines.get('bmc-p1')!.power, 'on');
    const st = await kiln(['host', 'power', 'p1', 'status']);
    assert.match(
      st.stdout,
      /^HOST\s+DRIVER\s+POWER\s+RECORDED\s+ACTIONS\np1\s+fake\s+on\s+on\s+on,off,cycle,soft-off$/,
    );
    assert.equal(JSON.parse((await kiln(['host', 'power', 'p1', 'status', '--json'])).stdout).state, 'on');
    const boot = await kiln(['host', 'bootdev', 'p1', 'network', '--persistent']);
    assert.equal(boot.code, 0, boot.stderr);
    assert.equal(boot.stdout, 'p1: boot from network always');
    assert.deepEqual(machines.get('bmc-p1')!.boot, { device: 'network', persistent: true });
    const bad = await kiln(['host', 'power', 'p1', 'explode']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /action must be on, off, cycle, soft-off or status/);
    const busy = await kiln(['host', 'power', 'p3', 'off']);
    assert.equal(busy.code, 1);
    assert.equal(busy.stderr, 'error: BMC says: chassis busy [bmc_error]');
    assert.equal((await kiln(['host', 'power', 'ghost', 'on'])).code, 3);
  });

  it('power-on-batch prints one row per host and fails when any host failed', async () => {
    const ok = await kiln([
      'host',
      'power-on-batch',
      'p1',
      'p2',
      '--stagger',
      '20ms',
      '--max-parallel',
      '1',
      '--boot-network',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    // Headroom pacing (the default) reports what admission control saw (a cut only if the loop ran late on a loaded machine).
    assert.match(
      ok.stdout,
      /^HOST\s+RESULT\s+ERROR\np1\s+on\s+-\np2\s+on\s+-\nadmission: up to \d+ booting at once \(\d+ at the end\), up to \d+ power-ons\/s \(\d+ at the end\), waited \d+\.\d s, \d+ cuts?(?: \(last: [^)]*\))?$/,
    );
    const fixed = await kiln(['host', 'power-on-batch', 'p1', '--pacing', 'stagger', '--json']);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.deepEqual(JSON.parse(fixed.stdout), [{ host: 'p1', ok: true }], 'stagger pacing: the rows only');
    assert.equal(machines.get('bmc-p2')!.power, 'on');
    const mixed = await kiln(['host', 'power-on-batch', 'p2', 'p3', '--stagger', '0s']);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stdout, /p3\s+failed\s+BMC says: chassis busy \[bmc_error\]/);
    assert.match(mixed.stderr, /1 of 2 hosts did not power on/);
    assert.equal((await kiln(['host', 'power-on-batch', 'p1', '--stagger', 'soon'])).code, 1);
  });

  it('bmc enlist takes the password from KILN_BMC_PASSWORD or a file, never a flag', async () => {
    const systems = JSON.stringify([{ systemId: 'S1', name: 'blade-1', macs: ['52:54:00:f0:00:01'] }]);
    const res = await kiln(
      [
        'bmc',
        'enlist',
        '--driver',
        'lab',
        '--address',
        'chassis-9',
        '--user',
        'root',
        '--option',
        `systems=${systems}`,
      ],
      { KILN_BMC_PASSWORD: secret },
    );
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^HOST\s+CHANGE\s+SYSTEM\s+MACS\nblade-1\s+created\s+S1\s+52:54:00:f0:00:01$/);
    assert.equal(await c.inventory.revealBmcPassword('blade-1'), secret);
    const file = join(dir, 'pw');
    writeFileSync(file, `${secret}-2\n`, { mode: 0o600 });
    const again = await kiln([
      'bmc',
      'enlist',
      '--driver',
      'lab',
      '--address',
      'chassis-9',
      '--password-file',
      file,
      '--option',
      `systems=${systems}`,
      '--json',
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(
      JSON.parse(again.stdout).updated.map((h: { name: string }) => h.name),
      ['blade-1'],
    );
    assert.equal(await c.inventory.revealBmcPassword('blade-1'), `${secret}-2`);
    assert.equal((await kiln(['bmc', 'enlist', '--driver', 'lab', '--address', 'x', '--password', secret])).code, 2);
  });

  it('host deploy (dry run, then real), release --wipe, rearm', async () => {
    await c.inventory.createHost(
      {
        name: 'd1',
        state: 'ready',
        profile: 'kiln-image',
        nics: [{ mac: '52:54:00:d0:00:01' as never, name: null, boot: true }],
        bmc: { driver: 'lab', address: 'bmc-d1' },
      },
      { actor: 'test' },
    );
    const dry = await kiln(['host', 'deploy', 'd1', '--var', 'imageName=busybox-test', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^profile kiln-image \(dry run: nothing changed\)\n--- /);
    assert.equal((await c.inventory.getHost('d1')).state, 'ready');
    const dep = await kiln(['host', 'deploy', 'd1', '--var', 'imageName=busybox-test']);
    assert.equal(dep.code, 0, dep.stderr);
    assert.match(dep.stdout, /^d1: deploying with kiln-image \(deployment [0-9a-f-]{36}; files /);
    assert.deepEqual(machines.get('bmc-d1')!.calls, ['boot network once', 'status', 'power on']);
    assert.equal((await kiln(['host', 'deploy', 'd1', '--var', 'novalue'])).code, 1);
    await c.inventory.transition('d1', 'deployed', { actor: 'test' });
    const rel = await kiln(['host', 'release', 'd1', '--wipe']);
    assert.equal(rel.code, 0, rel.stderr);
    assert.match(rel.stdout, /d1\s+releasing/);
    const rearm = await kiln(['host', 'rearm', 'd1', '--reason', 'new board']);
    assert.equal(rearm.code, 0, rearm.stderr);
    assert.equal(rearm.stdout, 'd1: enrolment re-armed');
  });

  it('host deploy-batch: each host deployed, then booted through the paced batch; a host without a BMC and a failing BMC are reported, not hidden', async () => {
    const mk = (name: string, n: number, bmc?: { driver: string; address: string }) =>
      c.inventory.createHost(
        {
          name,
          state: 'ready',
          profile: 'kiln-image',
          nics: [{ mac: `52:54:00:d1:00:0${n}` as never, name: null, boot: true }],
          ...(bmc ? { bmc } : {}),
        },
        { actor: 'test' },
      );
    await mk('b1', 1, { driver: 'lab', address: 'bmc-b1' });
    await mk('b2', 2, { driver: 'lab', address: 'bmc-b2' });
    await mk('b3', 3);
    await mk('b4', 4, { driver: 'broken', address: 'bmc-b4' });
    const r = await kiln(['host', 'deploy-batch', 'b1', 'b2', 'b3', 'b4', 'ghost', '--var', 'imageName=busybox-test']);
    assert.equal(r.code, 1, `the first failure's code sets the exit (b4: bmc_error)\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^HOST\s+STATE\s+PROFILE\s+BOOT\s+ERROR\n/);
    assert.match(r.stdout, /\nb1\s+deploying\s+kiln-image\s+started\s+-\n/);
    assert.match(r.stdout, /\nb2\s+deploying\s+kiln-image\s+started\s+-\n/);
    assert.match(r.stdout, /\nb3\s+deploying\s+kiln-image\s+no BMC: power it on yourself\s+-\n/);
    assert.match(r.stdout, /\nb4\s+deploying\s+kiln-image\s+failed\s+BMC says: chassis busy \[bmc_error\]\n/);
    assert.match(r.stdout, /\nghost\s+-\s+-\s+not-deployed\s+.*\[not_found\]\n/);
    assert.match(r.stdout, /\nadmission: up to \d+ booting at once/, 'headroom pacing reports what it saw');
    assert.match(r.stderr, /2 of 5 hosts were not deployed and booted \(first: b4\)/);
    // Each BMC got the deploy's network boot: one-time override, status, then on (the fake machines were off).
    for (const b of ['bmc-b1', 'bmc-b2'])
      assert.deepEqual(machines.get(b)!.calls, ['boot network once', 'status', 'power on']);
    for (const h of ['b1', 'b2', 'b3', 'b4']) assert.equal((await c.inventory.getHost(h)).state, 'deploying', h);
    const json = await kiln(['host', 'deploy-batch', 'b9', '--json', '--pacing', 'stagger']);
    assert.equal(json.code, 3);
    assert.deepEqual(JSON.parse(json.stdout).admission, null, 'stagger pacing: no admission figures');
  });

  it("profile list, show, and validate (local directories and the controller's)", async () => {
    const list = await kiln(['profile', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+OS\s+ARCH\s+INSTALL\s+DESCRIPTION\n/);
    assert.match(list.stdout, /\ndebian-12\s+debian 12\s/);
    const show = await kiln(['profile', 'show', 'debian-12']);
    assert.match(show.stdout, /^name\s+debian-12\n/);
    assert.equal((await kiln(['profile', 'show', 'nope'])).code, 3);
    const local = await kiln(['profile', 'validate', join(repoProfilesDir, 'debian-12')], {
      KILN_SERVER: 'http://127.0.0.1:1',
    });
    assert.equal(local.code, 0, local.stderr);
    assert.equal(local.stdout, 'debian-12: ok');
    const broken = join(dir, 'profiles', 'broken');
    cpSync(join(repoProfilesDir, 'debian-12'), broken, { recursive: true });
    cpSync(join(repoProfilesDir, '_snippets'), join(dir, 'profiles', '_snippets'), { recursive: true });
    writeFileSync(join(broken, 'profile.yaml'), 'name: broken\ncolour: red\n');
    const bad = await kiln(['profile', 'validate', broken]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /profile\.yaml/);
    const remote = await kiln(['profile', 'validate', '--json']);
    assert.equal(remote.code, 0, remote.stderr);
    assert.ok(JSON.parse(remote.stdout).every((v: { ok: boolean }) => v.ok));
  });
});
