// The doctor with scripted checks: reports, timeouts, throws, and one event per transition (not per run).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NewEvent } from '../event/event.js';
import { createCheckRegistry, fail, ok, warn, type CheckOutcome } from './check.js';
import { createDoctor, worstStatus } from './doctor.js';

function bed(script: Record<string, Array<CheckOutcome | 'throw' | 'hang'>>) {
  const registry = createCheckRegistry();
  for (const [name, outcomes] of Object.entries(script))
    registry.add({
      name,
      run: async (signal) => {
        const next = outcomes.length > 1 ? outcomes.shift()! : outcomes[0]!;
        if (next === 'throw') throw new Error('boom');
        if (next === 'hang')
          return new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
        return next;
      },
    });
  const events: NewEvent[] = [];
  const observed: Array<[string, string, boolean]> = [];
  const doctor = createDoctor({
    checks: registry,
    record: async (e) => void events.push(e),
    observe: (n, s, t) => observed.push([n, s, t]),
    controller: 'ctl-1',
    timeoutMs: 50,
  });
  return { doctor, events, observed };
}

test('a failing check is one event and one metric count per transition, and recovery is one event', async () => {
  const b = bed({
    disk: [
      fail('2 MiB free', 'free space'),
      fail('1 MiB free', 'free space'),
      ok('9 GiB free'),
      ok('9 GiB free'),
      fail('0 MiB', 'free space'),
    ],
  });
  const kinds = async () => (await b.doctor.run(), b.events.map((e) => e.kind));
  assert.deepEqual(await kinds(), ['controller.check_failed']);
  assert.deepEqual(await kinds(), ['controller.check_failed'], 'a second failing run raises nothing');
  assert.deepEqual(await kinds(), ['controller.check_failed', 'controller.check_recovered']);
  assert.deepEqual(await kinds(), ['controller.check_failed', 'controller.check_recovered']);
  assert.deepEqual(await kinds(), ['controller.check_failed', 'controller.check_recovered', 'controller.check_failed']);
  assert.match(b.events[0]!.message, /self-check disk failed on ctl-1: 2 MiB free; fix: free space/);
  assert.deepEqual(b.events[0]!.data, { check: 'disk', detail: '2 MiB free', fix: 'free space' });
  assert.deepEqual(
    b.observed.map(([, s, t]) => `${s}${t ? '!' : ''}`),
    ['fail!', 'fail', 'ok', 'ok', 'fail!'],
  );
});

test('a throwing check and a hanging one are failures naming why; the report status is the worst', async () => {
  const b = bed({ a: [ok('fine')], b: [warn('soon', 'renew')], c: ['throw'], d: ['hang'] });
  const r = await b.doctor.run();
  assert.equal(r.status, 'fail');
  assert.deepEqual(
    r.checks.map((c) => [c.name, c.status]),
    [
      ['a', 'ok'],
      ['b', 'warn'],
      ['c', 'fail'],
      ['d', 'fail'],
    ],
  );
  assert.match(r.checks[2]!.detail, /the check itself failed: boom/);
  assert.match(r.checks[3]!.detail, /no answer within 50 ms/);
  assert.equal(worstStatus(['ok', 'warn']), 'warn');
  assert.equal(worstStatus([]), 'ok');
});

test('a warning raises no event; concurrent runs share one run', async () => {
  const b = bed({ tls: [warn('expires in 3 days', 'renew')] });
  const [r1, r2] = await Promise.all([b.doctor.run(), b.doctor.run()]);
  assert.equal(r1, r2);
  assert.equal(b.events.length, 0);
});

test('the registry refuses a duplicate or malformed name', () => {
  const r = createCheckRegistry();
  r.add({ name: 'store', run: async () => ok('') });
  assert.throws(() => r.add({ name: 'store', run: async () => ok('') }), /registered twice/);
  assert.throws(() => r.add({ name: 'Bad Name', run: async () => ok('') }), /bad check name/);
});
