// Two `kiln serve` on one PostgreSQL (loopback, no namespaces): the roles that
// judge from the store, and the limits counted in it.
// - silent-hosts: a host whose heartbeats went to B (the non-holder) and stop
//   is reported unreachable once, by A (the holder), from the store; its return
//   through B is one host.reachable. After `kill -9` of A, B takes the role and
//   reports the next silent host (whose heartbeats went to A) once.
// - discovery-limit and node-rate-limit hold in total across both members,
//   from another loopback source (127.0.0.3) than the heartbeats (127.0.0.1).
// Fails, does not skip, when the local PostgreSQL is down. Figures printed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { until } from '../../test/support/hook-scenario.js';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import { startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { killChild, stopChild } from '../../test/support/process.js';

interface Member {
  id: string;
  roles: Array<{ role: string; term: number }>;
}
interface Event {
  seq: number;
  at: string;
  kind: string;
  hostId: string | null;
  message: string;
}

const work = mkdtempSync(join(tmpdir(), 'kiln-cluster-roles-'));
const serves: ServeProcess[] = [];
const agents: Agent[] = [];
let database: TempPostgres | undefined;
after(async () => {
  for (const s of serves) killChild(s.child);
  for (const a of agents) await a.close();
  await database?.drop();
  rmSync(work, { recursive: true, force: true });
});

const DISCOVERY_LIMIT = 3;
const NODE_RATE_LIMIT = 4;

test(
  'two controllers on one PostgreSQL: silent hosts reported once by the holder from the store, also after kill -9 of the holder; discovery and node-credential limits hold in total',
  { timeout: 120_000 },
  async (t) => {
    const t0 = Date.now();
    database = await createTempPostgres('roles');
    const config = join(work, 'kiln.yaml');
    writeFileSync(
      config,
      [
        'heartbeat: { intervalSeconds: 1, missedIntervals: 2, checkSeconds: 1, flushSeconds: 1 }',
        'cluster: { heartbeatSeconds: 1, electionMs: 500, staleSeconds: 4 }',
        '',
      ].join('\n'),
    );
    const start = async (name: string, dataKeyFrom?: string) => {
      const dir = join(work, name);
      mkdirSync(dir, { mode: 0o700 });
      if (dataKeyFrom) copyFileSync(join(work, dataKeyFrom, 'data.key'), join(dir, 'data.key'));
      const s = await startServe(
        [
          ...['--data-dir', dir, '--config', config, '--database-url', database!.url],
          ...['--discovery-limit', String(DISCOVERY_LIMIT), '--node-rate-limit', String(NODE_RATE_LIMIT)],
          ...['--power-poll-interval', '0'],
        ],
        { KILN_LOG_LEVEL: 'info' },
      );
      serves.push(s);
      return s;
    };
    const a = await start('a');
    const token = readFileSync(join(work, 'a', 'admin-token'), 'utf8').trim();
    const b = await start('b', 'a');
    t.diagnostic(`both members up after ${Date.now() - t0} ms`);
    const api = async <T>(s: ServeProcess, method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${s.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    };
    const events = async (kind: string) =>
      (await api<{ items: Event[] }>(b, 'GET', `/api/v1/events?kind=${kind}&limit=1000`)).items;
    const holderOf = async (s: ServeProcess, role: string) =>
      (await api<{ items: Member[] }>(s, 'GET', '/api/v1/controllers')).items.find((m) =>
        m.roles.some((r) => r.role === role),
      );

    // Two installed hosts with node credentials: one enrols through each member.
    const enrol = async (s: ServeProcess, name: string, mac: string) => {
      const host = await api<{ id: string }>(s, 'POST', '/api/v1/hosts', { name, nics: [{ mac }] });
      const res = await fetch(`${s.url}/api/v1/node/discover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ facts: { bootMac: mac, nics: [{ name: 'eth0', mac }] } }),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(res.status, 200, await res.clone().text());
      return { id: host.id, credential: ((await res.json()) as { credential: string }).credential };
    };
    const h1 = await enrol(a, 'silent-1', '52:54:00:69:00:01');
    const h2 = await enrol(b, 'silent-2', '52:54:00:69:00:02');
    const beat = async (s: ServeProcess, credential: string) => {
      const res = await fetch(`${s.url}/api/v1/node/heartbeat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bootId: '11111111-2222-3333-4444-555555555555', uptimeSeconds: 5 }),
        signal: AbortSignal.timeout(5_000),
      });
      if (res.status !== 200) throw new Error(`heartbeat through ${s.url}: ${res.status} ${await res.text()}`);
    };
    // Heartbeats every 500 ms while `on`: h1 through B, h2 through A (the member that holds no role judges nothing).
    const beating = { h1: true, h2: true, stop: false };
    let lastH2 = 0;
    const loop = (async () => {
      while (!beating.stop) {
        if (beating.h1) await beat(b, h1.credential).catch(() => {});
        if (beating.h2)
          await beat(a, h2.credential).then(
            () => (lastH2 = Date.now()),
            () => {},
          );
        await new Promise((r) => setTimeout(r, 500));
      }
    })();

    try {
      // A started first: it holds silent-hosts.
      let holder = await holderOf(b, 'silent-hosts');
      const idA = holder!.id;
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(await events('host.unreachable'), [], 'no host is silent yet');

      // h1 (heard only by B) stops: A reports it once, from the store. While it is silent, the limits are tested.
      beating.h1 = false;
      const stopped1 = Date.now();

      // Limits across both members, from 127.0.0.3 (the heartbeats' source stays unblocked). Both counters are
      // per minute on the clock: start at least 8 s before the minute ends so both stay in one window.
      const wait = 60 - new Date().getUTCSeconds() < 8 ? (61 - new Date().getUTCSeconds()) * 1000 : 0;
      if (wait) await new Promise((r) => setTimeout(r, wait));
      const other = new Agent({ localAddress: '127.0.0.3' });
      agents.push(other);
      const from3 = (url: string, init: Parameters<typeof undiciFetch>[1] = {}) =>
        undiciFetch(url, { ...init, dispatcher: other, signal: AbortSignal.timeout(10_000) });
      // Eight unknown MACs fetch their boot script, alternately through A and B, four at a time.
      const macs = Array.from({ length: 8 }, (_, i) => `52:54:00:69:10:${(16 + i).toString(16)}`);
      const scripts = await Promise.all(
        macs.map((m, i) => from3(`${(i % 2 ? b : a).url}/boot/host.ipxe?mac=${m}`).then((r) => r.status)),
      );
      let created = 0;
      for (const m of macs)
        created += (await api<{ items: unknown[] }>(b, 'GET', `/api/v1/hosts?mac=${m}`)).items.length;
      t.diagnostic(`discovery-limit ${DISCOVERY_LIMIT}, 8 unknown MACs through two members: ${scripts.join(' ')}`);
      assert.equal(created, DISCOVERY_LIMIT, 'the limit holds in total, not per member');
      assert.equal(scripts.filter((s) => s === 200).length, DISCOVERY_LIMIT);
      assert.equal(scripts.filter((s) => s === 429).length, macs.length - DISCOVERY_LIMIT);
      // Wrong node credentials, alternately through A and B: the limit's worth of refusals, then rate_limited on both.
      const tries: number[] = [];
      for (let i = 0; i < NODE_RATE_LIMIT + 2; i++) {
        const r = await from3(`${(i % 2 ? b : a).url}/api/v1/node/heartbeat`, {
          method: 'POST',
          headers: { authorization: 'Bearer kiln-node-wrong-credential', 'content-type': 'application/json' },
          body: JSON.stringify({ bootId: '11111111-2222-3333-4444-555555555555', uptimeSeconds: 5 }),
        });
        tries.push(r.status);
        await r.text();
      }
      t.diagnostic(`node-rate-limit ${NODE_RATE_LIMIT}, wrong credentials through two members: ${tries.join(' ')}`);
      assert.deepEqual(
        tries.map((s) => s === 429),
        [...Array(NODE_RATE_LIMIT).fill(false), true, true],
        'refused as invalid up to the limit in total, then rate limited on both members',
      );

      await until('h1 unreachable', async () => (await events('host.unreachable')).length > 0, 20_000);
      const reported1 = Date.parse((await events('host.unreachable'))[0]!.at) - stopped1;
      await new Promise((r) => setTimeout(r, 2500)); // more check rounds on both members: no second event
      const u1 = await events('host.unreachable');
      assert.deepEqual(
        u1.map((e) => e.hostId),
        [h1.id],
        'one event for h1, none for h2 (heartbeating through A all along)',
      );
      t.diagnostic(`h1's heartbeats (through B) stopped: host.unreachable by the holder A after ${reported1} ms`);
      // h1 comes back through B: B reports the return once (the mark was A's, in the store).
      beating.h1 = true;
      await until('h1 reachable', async () => (await events('host.reachable')).length > 0, 10_000);
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(
        (await events('host.reachable')).map((e) => e.hostId),
        [h1.id],
      );

      // kill -9 A (holder of silent-hosts, and the member h2 heartbeats through): B takes the role and reports h2.
      beating.h2 = false;
      const killed = Date.now();
      killChild(a.child);
      await a.exited;
      const silentSince = lastH2;
      await until(
        'B to hold silent-hosts',
        async () => (holder = await holderOf(b, 'silent-hosts'))?.id !== idA,
        20_000,
      );
      const tookOver = Date.now() - killed;
      await until(
        'h2 unreachable',
        async () => (await events('host.unreachable')).some((e) => e.hostId === h2.id),
        20_000,
      );
      const reported2 = Date.now() - killed;
      await new Promise((r) => setTimeout(r, 2500));
      const u2 = await events('host.unreachable');
      t.diagnostic(
        `kill -9 of the holder A: B held silent-hosts#${holder!.roles.find((r) => r.role === 'silent-hosts')!.term} after ${tookOver} ms; h2 (last heartbeat through A ${killed - silentSince} ms before the kill) reported by B ${reported2} ms after the kill`,
      );
      assert.deepEqual(
        u2.map((e) => e.hostId).sort(),
        [h1.id, h2.id].sort(),
        'h2 reported once by the new holder; h1 (heartbeating through B) not again',
      );
      t.diagnostic(`test body took ${Date.now() - t0} ms`);
    } catch (err) {
      t.diagnostic(`A:\n${a.output().slice(-3000)}\nB:\n${b.output().slice(-3000)}`);
      throw err;
    } finally {
      beating.stop = true;
      await loop;
      await stopChild(b.child, 10_000);
    }
  },
);
