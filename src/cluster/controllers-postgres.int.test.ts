// Two `kiln serve` processes on one PostgreSQL (loopback, no namespaces): the
// singleton roles are held by exactly one of them; an event written through A
// reaches B's live stream; `kill -9` of the holder moves every role to the
// other within seconds (measured and printed) and the hook delivery the dead
// one had in flight is sent again by the new holder; `kiln controller list`
// shows both, then the dead one as unhealthy. Fails, does not skip, when the
// local PostgreSQL is down.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startReceiver, until } from '../../test/support/hook-scenario.js';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import { runKiln, startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { killChild, stopChild } from '../../test/support/process.js';
import { SINGLETON_ROLES } from './roles.js';

interface Member {
  id: string;
  name: string;
  health: string;
  roles: Array<{ role: string; term: number }>;
}

const work = mkdtempSync(join(tmpdir(), 'kiln-cluster-'));
const serves: ServeProcess[] = [];
let database: TempPostgres | undefined;
after(async () => {
  for (const s of serves) killChild(s.child);
  await database?.drop();
  rmSync(work, { recursive: true, force: true });
});

test(
  'two controllers on one PostgreSQL: one holder per role, events cross over, a SIGKILLed holder hands every role and its hook delivery to the other',
  { timeout: 150_000 },
  async (t) => {
    database = await createTempPostgres('cluster');
    const config = join(work, 'kiln.yaml');
    // A long hook timeout: without the new holder ending the dead one's claims, the held delivery would wait 60 s.
    writeFileSync(
      config,
      [
        'hooks: { pollMs: 100, timeoutSeconds: 50, retry: { attempts: 5, baseSeconds: 1, maxSeconds: 2 } }',
        'cluster: { heartbeatSeconds: 1, electionMs: 500, staleSeconds: 4 }',
        '',
      ].join('\n'),
    );
    const start = async (name: string, dataKeyFrom?: string) => {
      const dir = join(work, name);
      mkdirSync(dir, { mode: 0o700 });
      // Hook secrets are sealed with the data key: members share it (a join that wraps it is not built yet).
      if (dataKeyFrom) copyFileSync(join(work, dataKeyFrom, 'data.key'), join(dir, 'data.key'));
      const s = await startServe(['--data-dir', dir, '--config', config, '--database-url', database!.url], {
        KILN_LOG_LEVEL: 'info',
      });
      serves.push(s);
      return s;
    };
    const a = await start('a');
    const token = readFileSync(join(work, 'a', 'admin-token'), 'utf8').trim();
    const b = await start('b', 'a');
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
    const members = async (s: ServeProcess) => (await api<{ items: Member[] }>(s, 'GET', '/api/v1/controllers')).items;
    const holders = (ms: Member[]) =>
      Object.fromEntries(SINGLETON_ROLES.map((r) => [r, ms.filter((m) => m.roles.some((x) => x.role === r))]));
    try {
      // Both members are listed; every role has exactly one holder: A, which started first.
      let ms: Member[] = [];
      await until('both members listed', async () => (ms = await members(b)).length === 2, 20_000);
      const [idA, idB] = [ms.at(-1)!.id, ms[0]!.id]; // newest start first
      for (const [role, hs] of Object.entries(holders(ms)))
        assert.deepEqual(
          hs.map((h) => h.id),
          [idA],
          `${role} is held by A alone`,
        );
      const listed = await runKiln(['controller', 'list'], { KILN_SERVER: b.url, KILN_TOKEN: token });
      assert.equal(listed.code, 0, listed.stderr);
      t.diagnostic(`kiln controller list (both up):\n${listed.stdout}`);
      assert.equal(listed.stdout.match(/ healthy /g)?.length, 2, listed.stdout);

      // An event written through A reaches B's live stream.
      const stream = await fetch(`${b.url}/api/v1/events/stream?kind=host.`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      });
      assert.equal(stream.status, 200);
      const reader = stream.body!.getReader();
      let seen = '';
      const reading = (async () => {
        const dec = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          seen += dec.decode(value);
        }
      })().catch(() => {});
      await new Promise((r) => setTimeout(r, 300)); // the subscription starts from now
      const wrote = Date.now();
      await api(a, 'POST', '/api/v1/hosts', { name: 'made-on-a', nics: [{ mac: '52:54:00:44:00:01' }] });
      await until('the event on B', () => seen.includes('made-on-a'), 10_000);
      t.diagnostic(`host.created written through A was on B's stream after ${Date.now() - wrote} ms`);
      await reader.cancel();
      await reading;

      // A hook delivery in flight on A: the receiver holds it open.
      let secret = '';
      const rx = await startReceiver(() => secret);
      try {
        secret = (
          await api<{ secret: string }>(a, 'POST', '/api/v1/hooks', { name: 'rx', url: rx.url, kinds: ['host.'] })
        ).secret;
        const held = rx.holdNext();
        await api(a, 'POST', '/api/v1/hosts', { name: 'hooked', nics: [{ mac: '52:54:00:44:00:02' }] });
        await held;
        const heldId = rx.got.at(-1)!.deliveryId;

        // kill -9 A: B takes every role; measured from the kill to B's list naming B for all of them.
        const killed = Date.now();
        killChild(a.child);
        await a.exited;
        rx.release();
        await until(
          'B to hold every role',
          async () =>
            Object.values(holders((ms = await members(b)))).every((hs) => hs.length === 1 && hs[0]!.id === idB),
          20_000,
        );
        const tookOver = Date.now() - killed;
        await until(
          'the held delivery sent again by B',
          () => rx.got.filter((g) => g.deliveryId === heldId).length >= 2,
          20_000,
        );
        const resent = Date.now() - killed;
        t.diagnostic(
          `kill -9 of the holder: B held every role after ${tookOver} ms (terms ${ms
            .find((m) => m.id === idB)!
            .roles.map((r) => `${r.role}#${r.term}`)
            .join(', ')}); the delivery in flight was sent again after ${resent} ms`,
        );
        assert.ok(
          ms.find((m) => m.id === idB)!.roles.every((r) => r.term >= 2),
          'B took each role with a newer term',
        );
      } finally {
        await rx.close();
      }

      // The dead member turns unhealthy once its heartbeat is older than staleSeconds.
      await until(
        'A unhealthy',
        async () => (await members(b)).find((m) => m.id === idA)?.health === 'unhealthy',
        20_000,
      );
      const after = await runKiln(['controller', 'list', '--json'], { KILN_SERVER: b.url, KILN_TOKEN: token });
      assert.equal(after.code, 0, after.stderr);
      const shown = (JSON.parse(after.stdout) as { items: Member[] }).items;
      assert.deepEqual(
        shown.map((m) => [m.id, m.health]).sort(),
        [
          [idA, 'unhealthy'],
          [idB, 'healthy'],
        ].sort(),
      );
      t.diagnostic(
        `kiln controller list (A killed):\n${(await runKiln(['controller', 'list'], { KILN_SERVER: b.url, KILN_TOKEN: token })).stdout}`,
      );
    } catch (err) {
      t.diagnostic(`A:\n${a.output().slice(-3000)}\nB:\n${b.output().slice(-3000)}`);
      throw err;
    } finally {
      await stopChild(b.child, 10_000);
    }
  },
);
