// The ingest worker on a real log store file: decoding, attribution asked of
// the main thread, rows written through the worker's own connection and read
// back through another, and only prefilter candidates handed back for triggers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../log/logger.js';
import { startIngestWorker } from './ingest-worker-client.js';
import { openLogStore } from './log-store.js';
import type { ReceivedLine } from './received-line.js';

const enc = new TextEncoder();
const line = (text: string, sourceIp = '10.0.0.5', truncated = false): ReceivedLine => ({
  receivedAt: '2026-12-06T11:00:00.000Z',
  sourceIp,
  bytes: enc.encode(text),
  truncated,
});

test('the ingest worker decodes, has the main thread attribute, stores, and hands back only trigger candidates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ingest-'));
  const file = join(dir, 'syslog.sqlite');
  const reader = openLogStore(file);
  const w = startIngestWorker({ file, triggerPatterns: ['Kernel panic - not syncing'], log: silentLogger });
  try {
    const asked: Array<{ sourceIp: string; hostname: string | null }> = [];
    const attribute = async (items: ReadonlyArray<{ sourceIp: string; hostname: string | null }>) => {
      asked.push(...items);
      return items.map((i) =>
        i.sourceIp === '10.0.0.5' ? { hostId: 'h-1', by: 'lease' as const } : { hostId: null, by: 'unknown' as const },
      );
    };
    const r = await w.ingest(
      [
        line('<13>Dec  6 11:00:00 web1 app[7]: plain line'),
        line(
          '<0>1 2026-12-06T11:00:01Z web1 kernel - - [kiln@32473 session="3f2a9c1b7d4e"] Kernel panic - not syncing: x',
        ),
        line('no pri at all', '10.0.0.9'),
      ],
      attribute,
    );
    assert.deepEqual(asked, [
      { sourceIp: '10.0.0.5', hostname: 'web1' },
      { sourceIp: '10.0.0.5', hostname: 'web1' },
      { sourceIp: '10.0.0.9', hostname: null },
    ]);
    assert.equal(r.defective, 1);
    assert.equal(r.unknown, 1);
    assert.deepEqual(
      r.rows.map((x) => [x.hostId, x.sessionId, x.text]),
      [['h-1', '3f2a9c1b7d4e', 'Kernel panic - not syncing: x']],
    );
    const stored = await reader.list({ hostId: 'h-1', limit: 10 });
    assert.deepEqual(
      stored.map((m) => [m.app, m.severity, m.sessionId, m.text]),
      [
        ['app', 5, null, 'plain line'],
        ['kernel', 0, '3f2a9c1b7d4e', 'Kernel panic - not syncing: x'],
      ],
    );
    const unattributed = await reader.list({ hostId: null, limit: 10 });
    assert.deepEqual(
      unattributed.map((m) => [m.sourceIp, m.defects.length > 0]),
      [['10.0.0.9', true]],
    );
    // Batches follow one another; a second one after the first works the same.
    const again = await w.ingest([line('<13>Dec  6 11:00:02 web1 app: second batch')], attribute);
    assert.deepEqual(again.rows, []);
    assert.equal((await reader.list({ hostId: 'h-1', limit: 10 })).length, 3);
  } finally {
    await w.close();
    await reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
