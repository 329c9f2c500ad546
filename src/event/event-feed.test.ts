import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KilnEvent } from './event.js';
import { createEventFeed, type EndReason, type FeedTimers, type ReadEvents } from './event-feed.js';

const ev = (seq: number, kind = 'host.created', hostId: string | null = 'h1'): KilnEvent => ({
  seq,
  at: '2026-01-01T00:00:00.000Z',
  actor: 'test',
  kind,
  hostId,
  subject: null,
  message: `event ${seq}`,
  reason: null,
  before: null,
  after: null,
  data: null,
});

/** An in-memory log and hand-driven timers. */
function bed(opts: { maxQueued?: number; pageSize?: number } = {}) {
  const log: KilnEvent[] = [];
  const read: ReadEvents = async (q) =>
    log
      .filter(
        (e) =>
          e.seq > (q.after ?? 0) &&
          (!q.kindPrefix || e.kind.startsWith(q.kindPrefix)) &&
          (!q.hostId || e.hostId === q.hostId),
      )
      .slice(0, q.limit);
  let ticking = 0;
  const timers: FeedTimers = {
    setInterval: () => ++ticking,
    clearInterval: () => {
      ticking = 0;
    },
  };
  const feed = createEventFeed({ read, latest: async () => log.at(-1)?.seq ?? 0, timers, ...opts });
  const add = (...es: KilnEvent[]) => log.push(...es);
  return { feed, add, log, isTicking: () => ticking > 0 };
}

function collector(drain = true) {
  const got: number[] = [];
  const ended: EndReason[] = [];
  let sub: { drained(n: number): void } | null = null;
  return {
    got,
    ended,
    set(s: { drained(n: number): void }) {
      sub = s;
    },
    deliver(events: KilnEvent[]) {
      got.push(...events.map((e) => e.seq));
      if (drain) queueMicrotask(() => sub?.drained(events.length));
    },
    end(reason: EndReason) {
      ended.push(reason);
    },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('event feed', () => {
  it('a subscriber from now gets only later events, in order, once each', async () => {
    const { feed, add } = bed();
    add(ev(1), ev(2));
    const c = collector();
    c.set(feed.subscribe({ filter: {}, deliver: (e) => c.deliver(e), end: (r) => c.end(r) }));
    await settle();
    add(ev(3), ev(4));
    await feed.poll();
    await feed.poll();
    add(ev(5));
    await feed.poll();
    assert.deepEqual(c.got, [3, 4, 5]);
  });

  it('a subscriber with a position catches up from the store, then goes live without gap or repeat', async () => {
    const { feed, add } = bed({ pageSize: 2 });
    add(ev(1), ev(2), ev(3), ev(4), ev(5));
    const first = collector();
    first.set(feed.subscribe({ filter: {}, deliver: (e) => first.deliver(e), end: (r) => first.end(r) }));
    await settle();
    const c = collector();
    c.set(feed.subscribe({ filter: {}, after: 1, deliver: (e) => c.deliver(e), end: (r) => c.end(r) }));
    // An event committed while the catch-up runs arrives once, after the backlog.
    add(ev(6));
    await feed.poll();
    await settle();
    add(ev(7));
    await feed.poll();
    await settle();
    assert.deepEqual(c.got, [2, 3, 4, 5, 6, 7]);
    assert.deepEqual(first.got, [6, 7]);
  });

  it('filters by kind prefix and host', async () => {
    const { feed, add } = bed();
    const c = collector();
    c.set(
      feed.subscribe({
        filter: { kindPrefix: 'host.', hostId: 'h2' },
        after: 0,
        deliver: (e) => c.deliver(e),
        end: (r) => c.end(r),
      }),
    );
    add(
      ev(1, 'host.created', 'h2'),
      ev(2, 'token.created', null),
      ev(3, 'host.state', 'h1'),
      ev(4, 'host.state', 'h2'),
    );
    await settle();
    await feed.poll();
    assert.deepEqual(c.got, [1, 4]);
  });

  it('drops a subscriber whose queue passes the bound, and keeps serving the others', async () => {
    const { feed, add } = bed({ maxQueued: 3 });
    const slow = collector(false);
    const fast = collector();
    slow.set(feed.subscribe({ filter: {}, deliver: (e) => slow.deliver(e), end: (r) => slow.end(r) }));
    fast.set(feed.subscribe({ filter: {}, deliver: (e) => fast.deliver(e), end: (r) => fast.end(r) }));
    await settle();
    add(ev(1), ev(2));
    await feed.poll();
    await settle();
    add(ev(3), ev(4));
    await feed.poll();
    await settle();
    assert.deepEqual(slow.got, [1, 2]);
    assert.deepEqual(slow.ended, ['too_slow']);
    assert.deepEqual(fast.got, [1, 2, 3, 4]);
    assert.equal(feed.size, 1);
  });

  it('a long backlog is paced by the subscriber draining, not dropped', async () => {
    const { feed, add } = bed({ maxQueued: 4, pageSize: 10 });
    for (let i = 1; i <= 20; i++) add(ev(i));
    const c = collector();
    c.set(feed.subscribe({ filter: {}, after: 0, deliver: (e) => c.deliver(e), end: (r) => c.end(r) }));
    for (let i = 0; i < 30; i++) await settle();
    assert.deepEqual(
      c.got,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.deepEqual(c.ended, []);
  });

  it('polls only while someone subscribes, and close ends every subscription', async () => {
    const { feed, isTicking } = bed();
    assert.equal(isTicking(), false);
    const c = collector();
    const s = feed.subscribe({ filter: {}, deliver: (e) => c.deliver(e), end: (r) => c.end(r) });
    assert.equal(isTicking(), true);
    s.close();
    assert.equal(isTicking(), false);
    const d = collector();
    feed.subscribe({ filter: {}, deliver: (e) => d.deliver(e), end: (r) => d.end(r) });
    feed.close();
    assert.deepEqual(d.ended, ['closed']);
    assert.deepEqual(c.ended, ['closed']);
  });
});
