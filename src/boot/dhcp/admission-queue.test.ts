import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admissionClassOf, createAdmissionQueue, type AdmissionClass, type ShedReason } from './admission-queue.js';
import { DhcpMessageType } from '../../protocols/dhcp4/codes.js';

const limits = { capacity: 4, maxAgeMs: { complete: 2000, new: 1000 } };

function queue(capacity = limits.capacity) {
  const shed: Array<{ item: string; cls: AdmissionClass; reason: ShedReason }> = [];
  const q = createAdmissionQueue<string>({ ...limits, capacity }, (item, cls, reason) =>
    shed.push({ item, cls, reason }),
  );
  const drain = (now: number): string[] => {
    const out: string[] = [];
    for (let x = q.take(now); x !== undefined; x = q.take(now)) out.push(x);
    return out;
  };
  return { q, shed, drain };
}

test('REQUESTs are taken before DISCOVERs, each class oldest first', () => {
  const { q, drain } = queue(10);
  q.push('d1', 'new', 0);
  q.push('r1', 'complete', 1);
  q.push('d2', 'new', 2);
  q.push('r2', 'complete', 3);
  assert.deepEqual(drain(5), ['r1', 'r2', 'd1', 'd2']);
  assert.equal(q.size, 0);
});

test('a full queue sheds its oldest DISCOVER for any arrival', () => {
  const { q, drain } = queue();
  q.push('d1', 'new', 0);
  q.push('d2', 'new', 0);
  q.push('r1', 'complete', 0);
  q.push('d3', 'new', 0);
  assert.deepEqual(q.push('r2', 'complete', 1), { item: 'd1', cls: 'new' });
  assert.deepEqual(q.push('d4', 'new', 1), { item: 'd2', cls: 'new' });
  assert.equal(q.size, 4);
  assert.deepEqual(drain(2), ['r1', 'r2', 'd3', 'd4']);
});

test('a queue full of REQUESTs refuses a DISCOVER and sheds its oldest REQUEST for a new one', () => {
  const { q, drain } = queue(2);
  q.push('r1', 'complete', 0);
  q.push('r2', 'complete', 0);
  assert.deepEqual(q.push('d1', 'new', 1), { item: 'd1', cls: 'new' });
  assert.deepEqual(q.push('r3', 'complete', 1), { item: 'r1', cls: 'complete' });
  assert.deepEqual(drain(2), ['r2', 'r3']);
});

test('items older than their class limit are shed when their turn comes, and reported', () => {
  const { q, shed, drain } = queue(10);
  q.push('d-old', 'new', 0);
  q.push('r-old', 'complete', 0);
  q.push('d-new', 'new', 1500);
  q.push('r-mid', 'complete', 1500);
  // At 2100 ms: r-old is 2100 ms old (limit 2000), d-old 2100 (limit 1000); r-mid and d-new are 600 ms old.
  assert.deepEqual(drain(2100), ['r-mid', 'd-new']);
  assert.deepEqual(shed, [
    { item: 'r-old', cls: 'complete', reason: 'expired' },
    { item: 'd-old', cls: 'new', reason: 'expired' },
  ]);
});

test('a REQUEST as old as a DISCOVER that expired is still answered', () => {
  const { q, drain } = queue(10);
  q.push('d', 'new', 0);
  q.push('r', 'complete', 0);
  assert.deepEqual(drain(1500), ['r']);
});

test('memory stays bounded: a million arrivals leave at most capacity queued, every shed one counted', () => {
  const { q, shed } = queue(64);
  let shedByPush = 0;
  for (let i = 0; i < 1_000_000; i++) if (q.push(`x${i}`, i % 3 === 0 ? 'complete' : 'new', i / 1000)) shedByPush++;
  assert.equal(q.size, 64);
  assert.equal(shedByPush, 1_000_000 - 64);
  assert.equal(shed.length, 0);
  // What is left is the newest: the queue kept the latest arrivals of the preferred class.
  const left: string[] = [];
  for (let x = q.take(1000); x !== undefined; x = q.take(1000)) left.push(x);
  assert.equal(left.length, 64);
  assert.ok(
    left.every((x) => Number(x.slice(1)) % 3 === 0),
    'only REQUESTs remain after an overload of both',
  );
  assert.equal(left.at(-1), 'x999999');
});

test('the ring grows and keeps order across wrap-around', () => {
  const { q, drain } = queue(1000);
  const taken: string[] = [];
  for (let i = 0; i < 100; i++) {
    q.push(`a${i}`, 'new', 0);
    q.push(`b${i}`, 'new', 0);
    taken.push(q.take(0)!);
  }
  taken.push(...drain(0));
  const expected = Array.from({ length: 100 }, (_, i) => [`a${i}`, `b${i}`]).flat();
  assert.deepEqual(taken, expected);
});

test('message types map to classes: REQUEST, DECLINE, RELEASE, INFORM complete; DISCOVER and unknown are new', () => {
  assert.equal(admissionClassOf(DhcpMessageType.request), 'complete');
  assert.equal(admissionClassOf(DhcpMessageType.decline), 'complete');
  assert.equal(admissionClassOf(DhcpMessageType.release), 'complete');
  assert.equal(admissionClassOf(DhcpMessageType.inform), 'complete');
  assert.equal(admissionClassOf(DhcpMessageType.discover), 'new');
  assert.equal(admissionClassOf(undefined), 'new');
  assert.equal(admissionClassOf(99), 'new');
});

test('take(now, "new") takes DISCOVERs only, leaving the REQUESTs first in line for the next plain take', () => {
  const { q } = queue(10);
  q.push('r1', 'complete', 0);
  q.push('d1', 'new', 0);
  q.push('r2', 'complete', 0);
  assert.equal(q.sizeOf('complete'), 2);
  assert.equal(q.sizeOf('new'), 1);
  assert.equal(q.take(1, 'new'), 'd1');
  assert.equal(q.take(1, 'new'), undefined);
  assert.equal(q.take(1), 'r1');
  assert.equal(q.take(1, 'complete'), 'r2');
  assert.equal(q.size, 0);
});
