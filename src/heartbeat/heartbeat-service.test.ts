import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { NewEvent } from '../event/event.js';
import type { HealthReport, HostHealth } from './health-model.js';
import { defaultHeartbeatConfig } from './heartbeat-config.js';
import { createHeartbeatService, type HeartbeatHost } from './heartbeat-service.js';
import type { HealthStore } from './sql-health-store.js';
import { formatHeartbeatReply } from './routes.js';

/** An in-memory store that counts its writes, with the SQL store's conditions (sql-health-store.ts). */
function fakeStore() {
  const rows = new Map<string, HostHealth>();
  const puts: number[] = [];
  const store: HealthStore = {
    async put(list) {
      puts.push(list.length);
      for (const h of list) {
        const old = rows.get(h.hostId);
        if (old && (old.lastSeenAt > h.lastSeenAt || (old.lastSeenAt === h.lastSeenAt && old.unreachable))) continue;
        rows.set(h.hostId, structuredClone(h));
      }
    },
    async get(id) {
      return rows.has(id) ? structuredClone(rows.get(id)!) : null;
    },
    async list() {
      return [...rows.values()].map((h) => structuredClone(h));
    },
    async silent(before, limit) {
      return [...rows.values()]
        .filter((h) => !h.unreachable && new Date(h.lastSeenAt).toISOString() < before)
        .sort((a, b) => a.lastSeenAt - b.lastSeenAt)
        .slice(0, limit)
        .map((h) => structuredClone(h));
    },
    async markUnreachable(_tx, h) {
      const old = rows.get(h.hostId);
      if (!old || old.unreachable || old.lastSeenAt !== h.lastSeenAt) return false;
      rows.set(h.hostId, { ...structuredClone(h), unreachable: true });
      return true;
    },
    async clearUnreachable(_tx, h) {
      if (!rows.get(h.hostId)?.unreachable) return false;
      rows.set(h.hostId, { ...structuredClone(h), unreachable: false });
      return true;
    },
    async delete(id, o = {}) {
      const old = rows.get(id);
      if (old && (o.lastSeenAt === undefined || new Date(old.lastSeenAt).toISOString() === o.lastSeenAt))
        rows.delete(id);
    },
  };
  return { store, rows, puts };
}

const report = (bootId = 'aaaaaaaa-0000-0000-0000-000000000001', uptimeSeconds = 100): HealthReport => ({
  bootId,
  uptimeSeconds,
  kernel: '6.1.0-kiln',
  load: [0.1, 0.2, 0.3],
  memory: { totalBytes: 1_000_000, availableBytes: 500_000 },
  disks: [{ mount: '/', sizeBytes: 10_000, usedBytes: 2_000 }],
  failedUnits: [],
  machineChecks: 0,
  edac: null,
  smart: null,
  session: null,
  agentVersion: 1,
});

function setup(
  opts: { state?: string; store?: ReturnType<typeof fakeStore>; clock?: { t: number }; flushLagMs?: number } = {},
) {
  const clock = opts.clock ?? { t: 1_000_000 };
  const events: NewEvent[] = [];
  const audits: Array<Record<string, unknown>> = [];
  const boots: string[] = [];
  const s = opts.store ?? fakeStore();
  const hostRow: HeartbeatHost = { id: 'h1', name: 'node-1', state: opts.state ?? 'deployed' };
  const krl = new Uint8Array([1, 2, 3]);
  const svc = createHeartbeatService({
    store: s.store,
    config: { ...defaultHeartbeatConfig, intervalSeconds: 10, missedIntervals: 3 },
    host: async (id) => (id === 'h1' ? hostRow : null),
    audit: async (_id, facts) => {
      audits.push(facts);
      return 'sha256:0123456789abcdef';
    },
    krl: async () => krl,
    record: async (e) => {
      events.push(e);
    },
    // The fake store ignores the transaction handle; events written in one land in the same list.
    recordIn: async (_tx, e) => {
      events.push(e);
    },
    transaction: async (fn) => {
      await fn(null as never);
      return true;
    },
    bootHeard: (_id, _session, detail) => boots.push(detail),
    now: () => clock.t,
    krlCacheMs: 0,
    ...(opts.flushLagMs !== undefined ? { flushLagMs: opts.flushLagMs } : {}),
  });
  return {
    svc,
    events,
    audits,
    boots,
    s,
    hostRow,
    krlSha: createHash('sha256').update(krl).digest('hex'),
    advance: (ms: number) => (clock.t += ms),
    kinds: () => events.map((e) => e.kind),
  };
}
const host = { id: 'h1', name: 'node-1' };

describe('heartbeat service (fake clock)', () => {
  it('files a heartbeat: health ok, the KRL in the reply (none when the node has it), a re-audit asked for', async () => {
    const x = setup();
    const r = await x.svc.receive(host, { report: report() }, '10.95.0.2');
    assert.deepEqual(r, { intervalSeconds: 10, audit: true, krlSha256: x.krlSha, krl: 'AQID' });
    assert.deepEqual(x.events, [], 'a first heartbeat is no event');
    assert.deepEqual(x.boots, ['heartbeat (boot id aaaaaaaa-0000-0000-0000-000000000001)']);
    const again = await x.svc.receive(host, { report: report(), krlSha256: x.krlSha }, '10.95.0.2');
    assert.equal(again.krl, null);
    assert.equal(formatHeartbeatReply(again), `interval 10\naudit 1\nkrl-sha256 ${x.krlSha}\n`);
    const h = await x.svc.health(host);
    assert.equal(h.status, 'ok');
    assert.equal(h.lastIp, '10.95.0.2');
    assert.equal(h.bootedAt, new Date(1_000_000 - 100_000).toISOString());
    assert.deepEqual(h.report?.disks, [{ mount: '/', sizeBytes: 10_000, usedBytes: 2_000 }]);
  });

  it('three missed intervals raise host.unreachable once; the next heartbeat raises host.reachable', async () => {
    const x = setup();
    await x.svc.receive(host, { report: report() }, '10.95.0.2');
    x.advance(29_000);
    await x.svc.check();
    assert.deepEqual(x.kinds(), [], 'not before three intervals');
    assert.equal((await x.svc.health(host)).status, 'late');
    assert.equal(x.svc.statusOf('h1'), 'late', 'the host list reads the same status from memory');
    assert.equal(x.svc.statusOf('h2'), null, 'a host never heard is not held');
    x.advance(2_000);
    await x.svc.check();
    await x.svc.check();
    x.advance(60_000);
    await x.svc.check();
    assert.deepEqual(x.kinds(), ['host.unreachable']);
    assert.match(x.events[0].message, /node-1 missed 3 heartbeats \(interval 10 s\).*31 s ago/);
    assert.equal((await x.svc.health(host)).status, 'unreachable');
    assert.equal(x.svc.statusOf('h1'), 'unreachable');
    assert.equal(x.s.rows.get('h1')?.unreachable, true, 'the flag is written at once');
    assert.deepEqual(
      x.svc.unreachable(10),
      [{ hostId: 'h1', hostName: 'node-1', lastSeenAt: new Date(1_000_000).toISOString(), lastIp: '10.95.0.2' }],
      "the overview's list, from memory",
    );
    assert.deepEqual(x.svc.unreachable(0), []);
    await x.svc.receive(host, { report: report() }, '10.95.0.2');
    assert.deepEqual(x.kinds(), ['host.unreachable', 'host.reachable']);
    assert.deepEqual(x.svc.unreachable(10), [], 'heard again: off the list');
    assert.deepEqual(x.events[1].data, { silentSeconds: 91, bootId: report().bootId });
  });

  it('a new boot id records host.rebooted and asks for a re-audit; facts are audited by the given function', async () => {
    const x = setup();
    const facts = { cpu: { model: 'x', count: 2 } };
    const first = await x.svc.receive(host, { report: report(), facts }, '10.95.0.2');
    assert.equal(first.audit, false, 'audited with this heartbeat');
    assert.deepEqual(x.audits, [facts]);
    assert.equal((await x.svc.receive(host, { report: report() }, '10.95.0.2')).audit, false);
    x.advance(5_000);
    const r = await x.svc.receive(host, { report: report('bbbbbbbb-0000-0000-0000-000000000002', 3) }, '10.95.0.2');
    assert.deepEqual(x.kinds(), ['host.rebooted']);
    assert.match(x.events[0].message, /node-1 rebooted \(boot id aaaaaaaa-.* → bbbbbbbb-.*, up 3 s\)/);
    assert.equal(r.audit, true, 'a new boot is re-audited');
    assert.equal(x.boots.length, 2);
    assert.equal((await x.svc.health(host)).hardware.hash, 'sha256:0123456789abcdef');
  });

  it('a host reinstalling or deleted is no longer watched and raises nothing', async () => {
    const x = setup({ state: 'deploying' });
    await x.svc.receive(host, { report: report() }, '10.95.0.2');
    x.advance(100_000);
    await x.svc.check();
    assert.deepEqual(x.kinds(), []);
    assert.equal((await x.svc.health(host)).status, 'never');
  });

  it('writes health in batches, not per heartbeat; a restart keeps boot id and last-seen', async () => {
    const x = setup();
    for (let i = 0; i < 20; i++) {
      await x.svc.receive(host, { report: report() }, '10.95.0.2');
      x.advance(1_000);
    }
    assert.deepEqual(x.s.puts, [], 'no write per heartbeat');
    await x.svc.flush();
    assert.deepEqual(x.s.puts, [1], 'one batch with the one changed host');
    await x.svc.flush();
    assert.deepEqual(x.s.puts, [1, 0], 'nothing changed, nothing written');
    // A new controller on the same store: the old boot id comes back, so a reboot is still seen.
    const y = setup({ store: x.s });
    await y.svc.start();
    y.advance(25_000);
    await y.svc.check();
    assert.deepEqual(y.kinds(), [], 'silence before the restart is not counted against the host');
    await y.svc.receive(host, { report: report('cccccccc-0000-0000-0000-000000000003') }, '10.95.0.2');
    assert.deepEqual(y.kinds(), ['host.rebooted']);
    await y.svc.close();
  });

  it('two controllers on one store: the checker judges what the other heard, one event per fact, the other reports the return', async () => {
    const clock = { t: 1_000_000 };
    const shared = fakeStore();
    const a = setup({ store: shared, clock, flushLagMs: 5_000 }); // hears the host
    const b = setup({ store: shared, clock, flushLagMs: 5_000 }); // holds silent-hosts: never hears it
    await a.svc.receive(host, { report: report() }, '10.95.0.2');
    await a.svc.flush();
    clock.t += 20_000;
    await a.svc.receive(host, { report: report() }, '10.95.0.2'); // not flushed yet: the store says 20 s older
    clock.t += 14_000;
    assert.equal(await b.svc.check(), 0, 'the stored silence (34 s) is within 30 s + the 5 s batch lag');
    await a.svc.flush();
    clock.t += 21_000;
    assert.equal(await b.svc.check(), 0, 'the flushed heartbeat is 35 s old: not past 30 s + 5 s');
    clock.t += 1_000;
    assert.equal(await b.svc.check(), 1);
    assert.match(b.events[0].message, /36 s ago/);
    assert.equal(await b.svc.check(), 0, 'reported once');
    assert.equal(await a.svc.check(), 0, 'the other controller, checking too, finds it reported');
    assert.deepEqual([...a.kinds(), ...b.kinds()], ['host.unreachable']);
    assert.equal(shared.rows.get('h1')?.unreachable, true);
    assert.equal(b.svc.statusOf('h1'), 'unreachable', 'the checker holds the host as reported');
    assert.equal(a.svc.statusOf('h1'), 'late', "the other's own copy lags (docs/cluster.md)");
    // A hears it again: its copy says reachable, but that much silence makes it ask the store, which says otherwise.
    await a.svc.receive(host, { report: report() }, '10.95.0.2');
    assert.deepEqual(a.kinds(), ['host.reachable']);
    assert.equal(shared.rows.get('h1')?.unreachable, false, 'the mark is cleared with the event');
    await a.svc.receive(host, { report: report() }, '10.95.0.2');
    assert.deepEqual(a.kinds(), ['host.reachable'], 'once');
  });

  it('a fenced write that is refused (another controller holds a newer term) raises nothing and stops the pass', async () => {
    const x = setup();
    await x.svc.receive(host, { report: report() }, '10.95.0.2');
    x.advance(31_000);
    let tried = 0;
    assert.equal(
      await x.svc.check(async () => {
        tried++;
        return false;
      }),
      0,
    );
    assert.equal(tried, 1);
    assert.deepEqual(x.kinds(), []);
    assert.equal(x.s.rows.get('h1')?.unreachable, false, 'nothing marked');
    assert.equal(await x.svc.check(), 1, 'the next holder (a write that runs) reports it');
  });
});
