import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../log/logger.js';
import { createPeerLoads } from './peer-loads.js';

const load = (at: number, booting: number) =>
  JSON.stringify({
    at,
    sign: null,
    bootsInProgress: booting,
    bootsLate: 0,
    bootsStarted: 0,
    bootsCompleted: 0,
    bootsCompletedPerS: 0,
    bootMedianMs: null,
    room: null,
  });

test('peer loads: read at most once a second, stale or malformed ones dropped, a failed read ages out', async () => {
  let t = 10_000;
  let reads = 0;
  let fail = false;
  let rows: Array<{ name: string; load: string | null }> = [];
  const peers = createPeerLoads(
    {
      read: async () => {
        reads++;
        if (fail) throw new Error('connection refused');
        return rows;
      },
      maxAgeMs: 5_000,
    },
    silentLogger,
    () => t,
  );
  rows = [
    { name: 'b', load: load(9_500, 12) },
    { name: 'c', load: null },
    { name: 'd', load: '{"at":' },
  ];
  assert.deepEqual(peers.now(), [], 'nothing read yet: the first read starts');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    peers.now().map((p) => [p.name, p.load.bootsInProgress]),
    [['b', 12]],
  );
  assert.equal(reads, 1, 'within a second of the last read: no second read');
  t += 1_000;
  fail = true;
  peers.now();
  await new Promise((r) => setImmediate(r));
  assert.equal(reads, 2);
  assert.equal(peers.now().length, 1, 'a failed read keeps what was read last while it is fresh');
  t = 15_000;
  assert.deepEqual(peers.now(), [], 'past maxAgeMs it counts no more');
  assert.deepEqual(createPeerLoads(undefined, silentLogger).now(), [], 'alone: no peers');
});
