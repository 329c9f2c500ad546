import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hasCode } from '../error/kiln-error.js';
import { execTool, runTool, withToolSignal } from './run-tool.js';

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

test('execTool resolves how the tool ended: a non-zero exit is a result, the environment is replaced, stdin is fed', async () => {
  const r = await execTool('sh', ['-c', 'read x; echo "$x $FOO"; echo oops >&2; exit 4'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FOO: 'bar' },
    stdin: 'hi\n',
  });
  assert.deepEqual(r, { code: 4, stdout: 'hi bar\n', stderr: 'oops\n', killed: null, timedOut: false, signal: null });
  const seen: number[] = [];
  const ok = await execTool('true', [], { onSpawn: (pid) => seen.push(pid) });
  assert.equal(ok.code, 0);
  assert.equal(seen.length, 1);
  await assert.rejects(execTool('kiln-no-such-tool', []), /ENOENT/);
});

test('execTool kills the tool on its timeout or an abort and says so; an already aborted signal starts nothing', async () => {
  const started = Date.now();
  const slow = await execTool('sleep', ['39'], { timeoutMs: 100 });
  assert.equal(slow.killed, 'timeout');
  assert.equal(slow.timedOut, true);
  assert.equal(slow.signal, 'SIGKILL');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const aborted = await execTool('sleep', ['39'], { signal: ac.signal });
  assert.equal(aborted.killed, 'abort');
  assert.equal(aborted.timedOut, true);
  assert.ok(Date.now() - started < 5000, 'did not wait for sleep 39');
  const seen: number[] = [];
  const never = await execTool('true', [], { signal: ac.signal, onSpawn: (pid) => seen.push(pid) });
  assert.equal(never.killed, 'abort');
  assert.deepEqual(seen, []);
});
