import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hasCode } from '../../error/kiln-error.js';
import { createMemoryLogger } from '../../log/logger.js';
import { formatRadvdConfig } from './radvd-config.js';
import {
  restartDelayMs,
  startConfiguredRouterAdvertiser,
  startRouterAdvertiser,
  type SpawnProcess,
} from './router-advertiser.js';

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every radvd stand-in is a real short-lived child of this process (so stopping by PID is real too). */
function shSpawn(script: string, spawned: string[][]): SpawnProcess {
  return (cmd, args) => {
    spawned.push([cmd, ...args]);
    return spawn('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
}

test('formatRadvdConfig: one stanza per interface, lifetime 0, unicast answers only, no prefix', () => {
  assert.equal(
    formatRadvdConfig(['br0']),
    [
      'interface br0 {',
      '  AdvSendAdvert on;',
      '  UnicastOnly on;',
      '  IgnoreIfMissing on;',
      '  AdvDefaultLifetime 0;',
      '  AdvManagedFlag off;',
      '  AdvOtherConfigFlag off;',
      '  AdvCurHopLimit 0;',
      '  AdvSourceLLAddress on;',
      '  MinRtrAdvInterval 198;',
      '  MaxRtrAdvInterval 600;',
      '};',
      '',
    ].join('\n'),
  );
  assert.equal(formatRadvdConfig(['br0', 'eth1.20']).match(/^interface /gm)?.length, 2);
  assert.doesNotMatch(formatRadvdConfig(['br0']), /prefix|route|RDNSS|DNSSL/);
});

test('formatRadvdConfig refuses names that would inject radvd syntax', () => {
  for (const bad of ['br0 { AdvDefaultLifetime 9000; }', 'a;b', '', 'x'.repeat(16)]) {
    assert.throws(() => formatRadvdConfig([bad]), /not an interface name/, bad);
  }
});

test('restartDelayMs doubles from the first delay up to the cap', () => {
  const p = { firstDelayMs: 1000, maxDelayMs: 30_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((n) => restartDelayMs(n, p)),
    [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
  );
});

test('a missing radvd is a config error naming the setting', async () => {
  await assert.rejects(
    startRouterAdvertiser({ interfaces: ['br0'], radvdPath: '/nonexistent/radvd' }),
    (err) => hasCode(err, 'config_invalid') && /dhcp\.routerAdvertisements/.test((err as Error).message),
  );
});

test('a crashing radvd is restarted with back-off, then given up with one ERROR', async () => {
  const log = createMemoryLogger();
  const spawned: string[][] = [];
  const ra = await startRouterAdvertiser({
    interfaces: ['br0'],
    log,
    spawn: shSpawn('echo "[Nov 22 06:04:44] radvd (4438): br0 not found: No such device" >&2; exit 1', spawned),
    restart: { firstDelayMs: 10, maxDelayMs: 40, maxRestarts: 3, stableMs: 60_000 },
  });
  await until(() => log.lines.some((l) => l.level === 'error'));
  assert.equal(spawned.length, 4, 'first start plus three restarts');
  assert.equal(log.lines.filter((l) => l.msg === 'radvd exited; restarting').length, 3);
  assert.deepEqual(
    log.lines
      .filter((l) => l.msg === 'radvd exited; restarting')
      .map((l) => (l.obj as { restartInMs: number }).restartInMs),
    [10, 20, 40],
  );
  const problem = log.lines.find((l) => l.msg === 'radvd reports a problem');
  assert.deepEqual(problem?.obj, { line: 'br0 not found: No such device' }, 'the date/pid prefix is stripped');
  assert.equal(log.lines.filter((l) => l.level === 'error').length, 1);
  assert.equal(ra.pid(), null);
  // The radvd command line: foreground, our config, our pid file, log to stderr.
  const cmd = spawned[0].join(' ');
  assert.match(cmd, /radvd -n -C \S+\/radvd\.conf -p \S+\/radvd\.pid -m stderr$/);
  await ra.close();
});

test('a killed radvd is restarted; close stops it by PID and removes its directory', async () => {
  const log = createMemoryLogger();
  const spawned: string[][] = [];
  const ra = await startRouterAdvertiser({
    interfaces: ['br0'],
    log,
    spawn: shSpawn('echo "IPv6 forwarding seems to be disabled, but continuing anyway" >&2; exec sleep 30', spawned),
    restart: { firstDelayMs: 10, maxDelayMs: 40, maxRestarts: 3, stableMs: 60_000 },
  });
  const first = ra.pid();
  assert.ok(first);
  process.kill(first, 'SIGKILL');
  await until(() => ra.pid() !== null && ra.pid() !== first);
  const second = ra.pid()!;
  const dir = spawned[0].join(' ').match(/-C (\S+)\/radvd\.conf/)![1];
  assert.ok(existsSync(dir));
  await ra.close();
  await ra.close();
  assert.equal(ra.pid(), null);
  assert.throws(() => process.kill(second, 0), /ESRCH/, 'the restarted child is gone');
  assert.ok(!existsSync(dir), 'config directory removed');
  // The forwarding warning is expected (Kiln is not a router): debug, not warn.
  assert.ok(!log.lines.some((l) => l.msg === 'radvd reports a problem'));
  assert.equal(log.lines.filter((l) => l.msg === 'radvd exited; restarting').length, 1);
});

test('startConfiguredRouterAdvertiser derives the interfaces from the subnets, and [] or DHCP off starts nothing', async () => {
  const log = createMemoryLogger();
  const subnets = [{ mode: 'full', interface: 'kiln-nx0' }];
  assert.equal(
    await startConfiguredRouterAdvertiser({ enabled: false, routerAdvertisements: { enabled: true }, subnets }, log),
    null,
  );
  assert.equal(
    await startConfiguredRouterAdvertiser(
      { enabled: true, routerAdvertisements: { enabled: true, interfaces: [] }, subnets },
      log,
    ),
    null,
  );
  assert.ok(
    log.lines.some(
      (l) => /router advertisements off/.test(l.msg ?? '') && (l.obj as { explicit: boolean }).explicit === true,
    ),
  );
  if (!existsSync('/usr/sbin/radvd')) return;
  // Derived: radvd starts for the subnet's interface (missing here; IgnoreIfMissing keeps radvd up).
  const ra = await startConfiguredRouterAdvertiser(
    { enabled: true, routerAdvertisements: { enabled: true }, subnets },
    log,
  );
  try {
    assert.ok(ra, 'radvd started');
    const started = log.lines.find((l) => l.msg === 'router advertisements: answering solicitations');
    assert.deepEqual(started?.obj, { interfaces: ['kiln-nx0'], derived: true });
  } finally {
    await ra?.close();
  }
});
