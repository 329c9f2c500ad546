import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from '../log/logger.js';
import type { NewEvent } from './event.js';
import { createEventBatch, type TimedEvent } from './event-batch.js';

const ev = (n: number): NewEvent => ({ actor: 'test', kind: 'boot.script', message: `event ${n}` });

test('events of one window are written together; events added while a write is in progress go in the next one, in order', async () => {
  const writes: string[][] = [];
  let release: () => void = () => {};
  const batch = createEventBatch({
    write: async (b: readonly TimedEvent[]) => {
      writes.push(b.map((t) => t.event.message));
      if (writes.length === 1) await new Promise<void>((r) => (release = r));
    },
    delayMs: 20,
    now: () => new Date('2026-12-06T12:00:00.000Z'),
  });
  batch.add(ev(1));
  batch.add(ev(2));
  assert.deepEqual(writes, [], 'nothing is written before the window closes');
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(writes, [['event 1', 'event 2']]);
  for (let i = 3; i <= 5; i++) batch.add(ev(i));
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(writes.length, 1, 'a write in progress: the next batch waits for it');
  release();
  await batch.flush();
  assert.deepEqual(writes, [
    ['event 1', 'event 2'],
    ['event 3', 'event 4', 'event 5'],
  ]);
});

test('a full batch is written without waiting out the window', async () => {
  const writes: number[] = [];
  const batch = createEventBatch({ delayMs: 60_000, maxBatch: 3, write: async (b) => void writes.push(b.length) });
  for (let i = 0; i < 3; i++) batch.add(ev(i));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(writes, [3]);
  batch.add(ev(4));
  await batch.flush();
  assert.deepEqual(writes, [3, 1], 'flush writes what waits');
});

test('a failed write is logged with its count and does not stop later writes; past maxPending events are dropped and counted', async () => {
  const warned: Array<Record<string, unknown>> = [];
  const log: Logger = {
    warn: (o) => void warned.push(o as Record<string, unknown>),
    info: () => {},
    debug: () => {},
    error: () => {},
    child: () => log,
  };
  let calls = 0;
  const written: string[] = [];
  let release: () => void = () => {};
  const batch = createEventBatch({
    delayMs: 0,
    maxPending: 2,
    log,
    write: async (b) => {
      calls++;
      if (calls === 1) {
        await new Promise<void>((r) => (release = r));
        throw new Error('disk full');
      }
      written.push(...b.map((t) => t.event.message));
    },
  });
  batch.add(ev(1));
  await new Promise((r) => setTimeout(r, 10)); // the first write starts and hangs
  batch.add(ev(2));
  batch.add(ev(3));
  batch.add(ev(4)); // the queue holds two while the first write runs
  release();
  await batch.flush();
  assert.deepEqual(written, ['event 2', 'event 3']);
  assert.deepEqual(
    warned.map((w) => w['lost'] ?? w['dropped']),
    [1, 1],
  );
});
