// The login limiter across members (docs/cluster.md, "Rate limits across members"): two `kiln serve` on one
// PostgreSQL (loopback, no namespaces). Wrong passwords from one source, alternately through A and B, are refused
// as wrong up to the limit in total (10 a minute, counted in the store's rate_counters), then rate limited on
// both members, the right password too; another source still logs in. Fails, does not skip, when the local
// PostgreSQL is down. Figures printed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { defaultLoginLimit } from './login-limiter.js';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';
import { startServe, type ServeProcess } from '../../test/support/serve-process.js';
import { killChild, stopChild } from '../../test/support/process.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-login-limit-'));
const serves: ServeProcess[] = [];
const agents: Agent[] = [];
let database: TempPostgres | undefined;
after(async () => {
  for (const s of serves) killChild(s.child);
  for (const a of agents) await a.close();
  await database?.drop();
  rmSync(work, { recursive: true, force: true });
});

test(
  'two controllers on one PostgreSQL: failed logins from one source count in total, then both members refuse it',
  { timeout: 120_000 },
  async (t) => {
    const t0 = Date.now();
    database = await createTempPostgres('login');
    const start = async (name: string, dataKeyFrom?: string) => {
      const dir = join(work, name);
      mkdirSync(dir, { mode: 0o700 });
      if (dataKeyFrom) copyFileSync(join(work, dataKeyFrom, 'data.key'), join(dir, 'data.key'));
      const s = await startServe(['--data-dir', dir, '--database-url', database!.url, '--power-poll-interval', '0']);
      serves.push(s);
      return s;
    };
    const a = await start('a');
    const token = readFileSync(join(work, 'a', 'admin-token'), 'utf8').trim();
    const b = await start('b', 'a');
    t.diagnostic(`both members up after ${Date.now() - t0} ms`);
    try {
      const created = await fetch(`${a.url}/api/v1/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ops', role: 'viewer', password: 'right-password-123' }),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(created.status, 201, await created.text());

      // From 127.0.0.3; the counter is per minute on the clock: start at least 10 s before the minute ends.
      const left = 60 - new Date().getUTCSeconds();
      if (left < 10) await new Promise((r) => setTimeout(r, (left + 1) * 1000));
      const other = new Agent({ localAddress: '127.0.0.3' });
      agents.push(other);
      const login = async (s: ServeProcess, password: string, dispatcher?: Agent) => {
        const r = await undiciFetch(`${s.url}/api/v1/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'ops', password }),
          dispatcher,
          signal: AbortSignal.timeout(10_000),
        });
        await r.text();
        return r.status;
      };
      const limit = defaultLoginLimit.maxFailures;
      const tries: number[] = [];
      for (let i = 0; i < limit + 2; i++) tries.push(await login(i % 2 ? b : a, 'wrong-password-xyz', other));
      t.diagnostic(`login limit ${limit}, wrong passwords through A and B alternately: ${tries.join(' ')}`);
      assert.deepEqual(
        tries,
        [...Array<number>(limit).fill(401), 429, 429],
        'refused as wrong up to the limit in total, then rate limited on both members',
      );
      const right = [await login(a, 'right-password-123', other), await login(b, 'right-password-123', other)];
      assert.deepEqual(right, [429, 429], 'the right password from that source waits out the minute too');
      assert.equal(await login(b, 'right-password-123'), 200, 'another source logs in');
      t.diagnostic(`test body took ${Date.now() - t0} ms`);
    } catch (err) {
      t.diagnostic(`A:\n${a.output().slice(-3000)}\nB:\n${b.output().slice(-3000)}`);
      throw err;
    } finally {
      await stopChild(a.child, 10_000);
      await stopChild(b.child, 10_000);
    }
  },
);
