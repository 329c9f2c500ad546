import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { createBrokenPowerDriver, createFakePowerDriver } from './fake/fake-power-driver.js';
import { createPowerQueue, type PowerReport } from './power-queue.js';

const newQueue = (maxConcurrent = 4, timeoutMs = 1000) => {
  const reports: PowerReport[] = [];
  const queue = createPowerQueue({ maxConcurrent, timeoutMs, onReport: (r) => reports.push(r) });
  return { queue, reports };
};

describe('power queue', () => {
  it('reports started then succeeded, with the state for status', async () => {
    const { queue, reports } = newQueue();
    const { driver } = createFakePowerDriver({ initial: 'on' });
    assert.equal(await queue.submit('h1', driver, { kind: 'status' }), 'on');
    assert.deepEqual(
      reports.map((r) => [r.hostId, r.phase, r.state]),
      [
        ['h1', 'started', undefined],
        ['h1', 'succeeded', 'on'],
      ],
    );
  });

  it('passes the origin through to every report of the operation', async () => {
    const { queue, reports } = newQueue();
    const { driver } = createFakePowerDriver();
    await queue.submit('h1', driver, { kind: 'power', action: 'on' }, { actor: 'token:ops', reason: 'why' });
    await queue.powerOnBatch([{ hostId: 'h2', driver, origin: { actor: 'token:batch' } }], {
      staggerMs: 0,
      maxParallel: 1,
    });
    assert.deepEqual(
      reports.map((r) => [r.hostId, r.phase, r.origin?.actor]),
      [
        ['h1', 'started', 'token:ops'],
        ['h1', 'succeeded', 'token:ops'],
        ['h2', 'started', 'token:batch'],
        ['h2', 'succeeded', 'token:batch'],
      ],
    );
  });

  it('serialises operations on one host in submission order', async () => {
    const { queue } = newQueue(4);
    const { driver, machine } = createFakePowerDriver({ delayMs: 20 });
    const log: string[] = [];
    await Promise.all([
      queue.submit('h1', driver, { kind: 'boot', override: { device: 'network' } }).then(() => log.push('boot')),
      queue.submit('h1', driver, { kind: 'power', action: 'on' }).then(() => log.push('on')),
      queue.submit('h1', driver, { kind: 'power', action: 'off' }).then(() => log.push('off')),
    ]);
    assert.deepEqual(log, ['boot', 'on', 'off']);
    assert.deepEqual(machine.calls, ['boot network once', 'power on', 'power off']);
  });

  it('never runs more than maxConcurrent operations at once', async () => {
    const reports: PowerReport[] = [];
    let inFlight = 0;
    let peak = 0;
    const drivers = Array.from({ length: 6 }, () => createFakePowerDriver({ delayMs: 15 }).driver);
    const trackingQueue = createPowerQueue({
      maxConcurrent: 2,
      timeoutMs: 1000,
      onReport: (r) => {
        reports.push(r);
        if (r.phase === 'started') peak = Math.max(peak, ++inFlight);
        else inFlight--;
      },
    });
    await Promise.all(drivers.map((d, i) => trackingQueue.submit(`h${i}`, d, { kind: 'power', action: 'on' })));
    assert.equal(peak, 2);
    assert.equal(reports.filter((r) => r.phase === 'succeeded').length, 6);
  });

  it('times out a hung BMC with bmc_timeout and keeps serving other hosts', async () => {
    const { queue, reports } = newQueue(1, 100);
    const hung = createFakePowerDriver({ hang: true }).driver;
    const ok = createFakePowerDriver().driver;
    const t0 = Date.now();
    const [a, b] = await Promise.allSettled([
      queue.submit('hung', hung, { kind: 'power', action: 'on' }),
      queue.submit('fine', ok, { kind: 'power', action: 'on' }),
    ]);
    assert.equal(a.status, 'rejected');
    assert.ok(hasCode(a.reason, 'bmc_timeout'));
    assert.equal(b.status, 'fulfilled');
    assert.ok(Date.now() - t0 < 10_000, 'the hung BMC timed out instead of blocking the queue');
    assert.equal(reports.find((r) => r.hostId === 'hung' && r.phase === 'failed')?.error?.code, 'bmc_timeout');
    // The hung host's next operation is not stuck behind the hung one.
    assert.equal(await queue.submit('hung', ok, { kind: 'status' }), 'on');
  });

  it('carries the BMC message of a failed call', async () => {
    const { queue, reports } = newQueue();
    await assert.rejects(
      queue.submit('h', createBrokenPowerDriver('Invalid user name or password'), { kind: 'power', action: 'on' }),
      (e) => hasCode(e, 'bmc_error'),
    );
    assert.deepEqual(reports.at(-1)?.error, { code: 'bmc_error', message: 'Invalid user name or password' });
  });

  it('reports an unsupported operation as bmc_unsupported', async () => {
    const { queue } = newQueue();
    const { driver } = createFakePowerDriver({ capabilities: { powerActions: ['on'] } });
    await assert.rejects(queue.submit('h', driver, { kind: 'power', action: 'off' }), (e) =>
      hasCode(e, 'bmc_unsupported'),
    );
  });

  it('staggers a batch power-on, sets boot first, and reports each host', async () => {
    const { queue, reports } = newQueue(8);
    const machines = Array.from({ length: 4 }, () => createFakePowerDriver());
    const outcomes = await queue.powerOnBatch(
      [
        ...machines.map((m, i) => ({ hostId: `n${i}`, driver: m.driver, boot: { device: 'network' as const } })),
        { hostId: 'bad', driver: createBrokenPowerDriver() },
      ],
      { staggerMs: 60, maxParallel: 2 },
    );
    assert.deepEqual(
      outcomes.map((o) => o.ok),
      [true, true, true, true, false],
    );
    for (const m of machines) assert.deepEqual(m.machine.calls, ['boot network once', 'power on']);
    const starts = reports.filter((r) => r.phase === 'started' && r.operation.kind === 'boot').map((r) => r.at);
    // Without a stagger all four start within a few ms; with it, host i starts
    // about i × 60 ms after host 0. Each report is stamped after its operation
    // began, so under load host 0's stamp can lag its slot: allow 20 ms.
    for (let i = 1; i < starts.length; i++)
      assert.ok(starts[i] - starts[0] >= i * 60 - 20, `host ${i} started ${starts[i] - starts[0]} ms in`);
  });
});
