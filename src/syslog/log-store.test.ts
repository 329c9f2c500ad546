import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openLogStore, PRUNE_CHUNK } from './log-store.js';
import type { NewSyslogMessage } from './syslog-message-row.js';

const line = (over: Partial<NewSyslogMessage> = {}): NewSyslogMessage => ({
  hostId: 'h1',
  receivedAt: '2026-12-06T08:00:00.000Z',
  sourceIp: '10.0.0.5',
  facility: 1,
  severity: 6,
  hostname: 'web1',
  app: 'agent',
  procId: null,
  msgId: null,
  text: 'hello',
  sessionId: null,
  defects: [],
  raw: null,
  ...over,
});

test('the log store is a file of its own that survives a restart, and reads by host, session, severity threshold, text and id', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-logstore-'));
  try {
    const file = join(dir, 'syslog.sqlite');
    let store = openLogStore(file);
    await store.insertMany([
      line({ text: 'boot ok', sessionId: '3f2a9c1b7d4e' }),
      line({ text: 'disk 100% full_now', severity: 3, sessionId: '3f2a9c1b7d4e' }),
      line({ text: 'Kernel panic - not syncing', severity: 0 }),
      line({ text: 'someone else', hostId: 'h2' }),
      line({ text: 'nobody', hostId: null }),
    ]);
    await store.close();
    store = openLogStore(file);
    const texts = async (q: Parameters<typeof store.list>[0]) => (await store.list(q)).map((m) => m.text);
    assert.deepEqual(await texts({ hostId: 'h1', limit: 10 }), [
      'boot ok',
      'disk 100% full_now',
      'Kernel panic - not syncing',
    ]);
    assert.deepEqual(await texts({ hostId: 'h1', limit: 2 }), ['disk 100% full_now', 'Kernel panic - not syncing']);
    assert.deepEqual(await texts({ hostId: 'h1', sessionId: '3f2a9c1b7d4e', limit: 10 }), [
      'boot ok',
      'disk 100% full_now',
    ]);
    assert.deepEqual(await texts({ hostId: 'h1', severity: 3, limit: 10 }), [
      'disk 100% full_now',
      'Kernel panic - not syncing',
    ]);
    assert.deepEqual(await texts({ hostId: 'h1', grep: 'KERNEL', limit: 10 }), ['Kernel panic - not syncing']);
    assert.deepEqual(await texts({ hostId: 'h1', grep: '100%', limit: 10 }), ['disk 100% full_now']);
    assert.deepEqual(await texts({ hostId: 'h1', grep: '%', limit: 10 }), ['disk 100% full_now'], '% is literal');
    assert.deepEqual(await texts({ hostId: 'h1', grep: 'l_n', limit: 10 }), ['disk 100% full_now'], '_ is literal');
    assert.deepEqual(await texts({ hostId: 'h1', grep: 'k_', limit: 10 }), []);
    const first = (await store.list({ hostId: 'h1', limit: 1 }))[0];
    assert.deepEqual(await texts({ hostId: 'h1', after: first.id - 1, limit: 10 }), ['Kernel panic - not syncing']);
    assert.deepEqual(await texts({ hostId: null, limit: 10 }), ['nobody']);
    assert.equal(await store.hostLineContains('h1', 'panic'), true);
    assert.equal(await store.hostLineContains('h1', 'someone'), false, "another host's line is not the caller's");
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pruning is incremental: by age (oldest first), by bytes in use, and per host, a bounded number of chunks per call', async () => {
  const store = openLogStore(':memory:');
  const old = Array.from({ length: PRUNE_CHUNK * 2 + 10 }, (_, i) =>
    line({ text: `old ${i} ${'x'.repeat(100)}`, receivedAt: '2026-11-01T00:00:00.000Z' }),
  );
  const fresh = Array.from({ length: 3000 }, (_, i) => line({ text: `new ${i} ${'y'.repeat(100)}` }));
  await store.insertMany(old);
  await store.insertMany(fresh);
  const before = '2026-11-20T00:00:00.000Z';
  const step = await store.prune({ before, maxBytes: 1 << 30, maxChunks: 2 });
  assert.deepEqual(step, { deleted: PRUNE_CHUNK * 2, more: true }, 'stops after maxChunks');
  const rest = await store.prune({ before, maxBytes: 1 << 30 });
  assert.equal(rest.deleted, 10);
  assert.equal(rest.more, false);
  assert.equal((await store.list({ hostId: 'h1', limit: 5000 })).length, 3000);

  const used = store.usedBytes();
  const cap = Math.floor(used / 2);
  for (let i = 0; i < 20; i++) if (!(await store.prune({ before, maxBytes: cap })).more) break;
  assert.ok(store.usedBytes() <= cap, `${store.usedBytes()} bytes in use, cap ${cap}`);
  const kept = await store.list({ hostId: 'h1', limit: 5000 });
  assert.ok(kept.length > 0 && kept.length < 3000);
  assert.equal(kept[kept.length - 1].text.split(' ')[1], '2999', 'the newest lines are kept');

  await store.insertMany([
    line({ hostId: 'h2', text: 'a' }),
    line({ hostId: 'h2', text: 'b' }),
    line({ hostId: null }),
  ]);
  await store.prune({ before, maxBytes: 1 << 30, maxPerHost: 1 });
  assert.deepEqual(
    (await store.list({ hostId: 'h2', limit: 10 })).map((m) => m.text),
    ['b'],
  );
  assert.equal((await store.list({ hostId: 'h1', limit: 10 })).length, 1);
  assert.equal((await store.list({ hostId: null, limit: 10 })).length, 1);
  await store.close();
});
