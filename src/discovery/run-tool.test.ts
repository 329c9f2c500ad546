import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hasCode, KilnError } from '../error/kiln-error.js';
import { runTool, withToolSignal } from './run-tool.js';

/** PIDs of `sleep 37` children of this process (the marker argument is ours alone). */
const sleepers = (): string[] => {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-f', '^sleep 37$'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
};

test('runTool returns stdout, and a failing tool is a KilnError naming it with its stderr', async () => {
  assert.equal(await runTool('sh', ['-c', 'echo hello']), 'hello\n');
  await assert.rejects(
    runTool('sh', ['-c', 'echo broken >&2; exit 3']),
    (err) =>
      hasCode(err, 'internal') &&
      /sh failed: broken/.test((err as Error).message) &&
      err.details?.['stderr'] === 'broken',
  );
});

test('aborting the build signal kills the running tool at once and refuses new ones', async () => {
  const ac = new AbortController();
  const started = Date.now();
  const running = withToolSignal(ac.signal, async () => {
    await runTool('true', []);
    return runTool('sleep', ['37']);
  });
  const deadline = Date.now() + 5000;
  while (sleepers().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(sleepers().length, 1, 'the tool runs');
  ac.abort();
  await assert.rejects(
    running,
    (err) =>
      hasCode(err, 'internal') && err.details?.['cancelled'] === true && /cancelled/.test((err as Error).message),
  );
  assert.ok(Date.now() - started < 5000, 'did not wait for sleep 37');
  assert.deepEqual(sleepers(), [], 'the child is gone');
  await assert.rejects(
    withToolSignal(ac.signal, () => runTool('true', [])),
    /not started: the build was cancelled/,
  );
  // Outside the scope nothing is cancelled.
  assert.equal(await runTool('sh', ['-c', 'echo ok']), 'ok\n');
});

test('aborting kills what the tool started too (dpkg-deb runs tar): the whole process group is gone before the promise settles', async () => {
  const grandchildren = (): string[] => {
    try {
      return execFileSync('pgrep', ['-f', '^sleep 38$'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const ac = new AbortController();
  const running = withToolSignal(ac.signal, () => runTool('sh', ['-c', 'sleep 38 & wait']));
  const deadline = Date.now() + 5000;
  while (grandchildren().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(grandchildren().length, 1, 'the tool started its own child');
  ac.abort();
  await assert.rejects(running, /cancelled/);
  assert.deepEqual(grandchildren(), [], "the tool's child is gone when runTool settles");
});
