// The agent's self-tests (node/agent/selftest.sh) under the image's busybox, with Debian's real memtester and
// ethtool on PATH, against a fake /sys and /dev tree, reporting to a real in-memory controller over HTTP. SMART's
// pass and fail paths use a scripted smartctl (no disk here has SMART); the real smartctl is run against a plain
// file, which it cannot query: the test is then skipped, as on a virtual disk.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { nodeScriptsDir } from './build-discovery-image.js';
import { formatSelfTestRuns } from '../cli/commands/host-test.js';

const agent = join(nodeScriptsDir, 'agent');
const tool = (name: string) => ['/usr/sbin', '/usr/bin', '/sbin'].map((d) => join(d, name)).find((p) => existsSync(p));
const memtester = tool('memtester');
const smartctl = tool('smartctl');
const ethtool = tool('ethtool');
const MAC = '52:54:00:7e:00:01';

function put(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

function tree(port: number, tools: Record<string, string | undefined>): string {
  const r = mkdtempSync(join(tmpdir(), 'kiln-selftest-'));
  busyboxOnlyPath(r);
  mkdirSync(join(r, 'tools'));
  for (const [name, path] of Object.entries(tools)) if (path) symlinkSync(path, join(r, 'tools', name));
  put(r, 'proc/cmdline', `kiln.url=http://127.0.0.1:${port} kiln.mac=${MAC}\n`);
  put(r, 'sys/class/net/kilnst0/address', `${MAC}\n`);
  put(r, 'sys/class/net/kilnst0/carrier', '1\n');
  put(r, 'sys/class/net/kilnst0/speed', '1000\n');
  put(r, 'sys/block/vdx/removable', '0\n');
  put(r, 'sys/block/loop0/removable', '0\n');
  put(r, 'dev/vdx', '\0'.repeat(8 * 1024 * 1024));
  mkdirSync(join(r, 'run'));
  return r;
}

const envOf = (root: string) => ({
  PATH: `${join(root, 'bb')}:${join(root, 'tools')}`,
  KILN_PROC: join(root, 'proc'),
  KILN_SYS: join(root, 'sys'),
  KILN_DEV: join(root, 'dev'),
  KILN_RUN: join(root, 'run'),
  KILN_LIB: agent,
  KILN_TRIES: '1',
});
const argv = (script: string) => ['sh', '-c', `. ${agent}/lib.sh; . ${agent}/selftest.sh; ${script}`];

/** Runs agent functions to completion without blocking this event loop (the controller under test answers on it). */
function shAsync(root: string, script: string): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(BUSYBOX, argv(script), { encoding: 'utf8', timeout: 60_000, env: envOf(root) }, (err, out, errText) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out, err: errText }),
    );
  });
}

function sh(root: string, script: string): { code: number; out: string; err: string } {
  const res = spawnSync(BUSYBOX, argv(script), { encoding: 'utf8', timeout: 60_000, env: envOf(root) });
  return { code: res.status ?? -1, out: res.stdout, err: res.stderr };
}

/** A scripted smartctl for one ATA disk whose short self-test ends `log` and whose health is `health`. */
function fakeSmartctl(dir: string, log: string, health: string): string {
  const p = join(dir, 'smartctl-fake');
  writeFileSync(
    p,
    `#!${BUSYBOX} sh
case "$1" in
  -i) echo "SMART support is: Available - device has SMART capability."; echo "SMART support is: Enabled" ;;
  -t) echo "Testing has begun." ;;
  -c) echo "Self-test execution status:      (   0)	The previous self-test routine completed" ;;
  -l) echo "Num  Test_Description    Status                  Remaining  LifeTime(hours)  LBA_of_first_error"; echo "# 1  Short offline       ${log}" ;;
  -H) echo "SMART overall-health self-assessment test result: ${health}" ;;
esac
`,
  );
  chmodSync(p, 0o755);
  return p;
}

describe('agent self-tests', () => {
  let c: TestController;
  let port = 0;
  before(async () => {
    c = await createTestController();
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    port = (c.app.server.address() as { port: number }).port;
  });
  after(async () => c.close());

  it(
    'memory with the real memtester passes and keeps its result lines; without memtester it is skipped',
    { skip: !memtester && 'memtester not installed (apt-get install memtester)' },
    () => {
      const r = tree(port, { memtester });
      const run = sh(r, 'selftest_memory 4');
      assert.equal(run.code, 0, run.out + run.err);
      assert.match(run.out, /Stuck Address\s+: ok/);
      assert.match(run.out, /memtester exit 0$/m);
      assert.doesNotMatch(run.out, /\x08|setting|testing/, 'the progress spinner is removed');
      assert.equal(sh(tree(port, {}), 'selftest_memory 4').code, 2);
    },
  );

  it('nic-speed: sysfs or ethtool speed against the minimum; no speed is skipped, no carrier fails', () => {
    const r = tree(port, { ethtool });
    assert.equal(sh(r, `selftest_nic_speed ${MAC} 100`).code, 0);
    const slow = sh(r, `selftest_nic_speed ${MAC} 10000`);
    assert.equal(slow.code, 1);
    assert.match(slow.out, /speed 1000 Mb\/s, at least 10000 wanted/);
    put(r, 'sys/class/net/kilnst0/speed', '-1\n');
    assert.equal(sh(r, `selftest_nic_speed ${MAC} 0`).code, 2);
    put(r, 'sys/class/net/kilnst0/carrier', '0\n');
    assert.equal(sh(r, `selftest_nic_speed ${MAC} 0`).code, 1);
    assert.equal(sh(r, 'selftest_nic_speed 52:54:00:00:00:99 0').code, 1);
  });

  it(
    'disk-smart: real smartctl on a disk without SMART skips; a scripted SMART disk passes or fails by its log',
    { skip: !smartctl && 'smartctl not installed (apt-get install smartmontools)' },
    () => {
      const r = tree(port, { smartctl });
      const none = sh(r, 'selftest_disk_smart 5');
      assert.equal(none.code, 2, none.out);
      assert.match(none.out, /vdx: no SMART/);
      assert.doesNotMatch(none.out, /loop0/, 'loop devices are not disks');
      const good = tree(port, {});
      symlinkSync(
        fakeSmartctl(good, 'Completed without error       00%      1234         -', 'PASSED'),
        join(good, 'tools', 'smartctl'),
      );
      const pass = sh(good, 'selftest_disk_smart 5');
      assert.equal(pass.code, 0, pass.out);
      assert.match(pass.out, /vdx: # 1 {2}Short offline {7}Completed without error/);
      const bad = tree(port, {});
      symlinkSync(
        fakeSmartctl(bad, 'Completed: read failure       90%      1234         12345', 'FAILED!'),
        join(bad, 'tools', 'smartctl'),
      );
      assert.equal(sh(bad, 'selftest_disk_smart 5').code, 1);
    },
  );

  it('disk-write (destructive) writes 4 MiB at 1 MiB into each disk and reads it back', () => {
    const r = tree(port, {});
    const run = sh(r, 'selftest_disk_write');
    assert.equal(run.code, 0, run.out + run.err);
    assert.match(run.out, /vdx: 4 MiB written and read back equal/);
    const disk = readFileSync(join(r, 'dev/vdx'));
    assert.equal(disk.length, 8 * 1024 * 1024);
    assert.ok(
      disk.subarray(0, 1024 * 1024).every((b) => b === 0),
      'the first MiB is left alone',
    );
    assert.ok(
      disk.subarray(1024 * 1024, 5 * 1024 * 1024).some((b) => b !== 0),
      'the pattern is on the disk',
    );
  });

  it(
    "discover → a rule's tests → reported to the controller: host ready, outputs stored, the agent told to power off",
    { skip: !memtester && 'memtester not installed' },
    async () => {
      const rule = await c.app.inject({
        method: 'PUT',
        url: '/api/v1/rules/lab',
        headers: { authorization: c.bearer.admin },
        payload: {
          match: { macPrefix: '52:54:00:7e' },
          assign: {
            selfTests: ['memory', 'nic-speed', 'disk-smart'],
            selfTestOptions: { memoryMiB: 4, nicMinMbps: 100 },
            afterDiscovery: 'poweroff',
          },
        },
      });
      assert.equal(rule.statusCode, 200, rule.body);
      const r = tree(port, { memtester, ethtool, smartctl });
      const facts = JSON.stringify({ bootMac: MAC, firmware: 'bios', nics: [{ name: 'eth0', mac: MAC }] });
      const res = await shAsync(
        r,
        `KILN_URL=$(cmdline_get kiln.url); mac=$(boot_mac)
       flat=$(api POST discover '{"facts":${facts}}' | json_flatten); store_credential "$flat"
       run_selftests "$flat" "$mac"`,
      );
      assert.equal(res.code, 0, res.out + res.err);
      assert.deepEqual(JSON.parse(res.out), { outcome: 'pass', state: 'ready', then: 'poweroff' });
      const host = await c.inventory.findHostByMac(MAC as Parameters<typeof c.inventory.findHostByMac>[0]);
      const { runs } = await c.selfTests.list(host!.id);
      const byName = Object.fromEntries(runs[0]!.results.map((t) => [t.name, t]));
      assert.equal(byName['memory']?.status, 'pass');
      assert.match(byName['memory']?.output ?? '', /Walking Ones\s+: ok/);
      assert.equal(byName['nic-speed']?.status, 'pass');
      assert.equal(byName['disk-smart']?.status, 'skipped', 'a plain file has no SMART');
      assert.match(res.err, /self-test memory: pass/);
      // The CLI's view of the same run (`kiln host self-tests`).
      const text = formatSelfTestRuns(runs);
      assert.match(text, /^run \S+ pass: memory, nic-speed, disk-smart — asked by rule:lab/);
      assert.match(text, /^ {2}PASS {4}memory \(\d+ s\)\n(.*\n)*? {8}Walking Zeroes\s+: ok$/m);
      assert.match(text, /^ {2}SKIPPED disk-smart/m);
    },
  );
});
