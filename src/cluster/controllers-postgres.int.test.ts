// Members of one PostgreSQL for real: `kiln serve` processes on one store
// (loopback, no namespaces; test/support/member-bed.ts, one bed for the file:
// A started first, then B, C later), in order:
// - the login limit holds in total across members;
// - a token B has cached is refused by B within the NOTIFY delay of its
//   revocation through A (and by A at once);
// - liveness off the main loop: A's main event loop blocked (a busy loop
//   through its inspector) for twice `staleSeconds`; B and `kiln controller
//   list` still judge it alive, its URL stays in B's boot scripts;
// - the singleton roles are held by exactly one member (A, which started first);
//   an event written through A reaches B's live stream; `kill -9` of A moves
//   every role to B within seconds and the hook delivery A had in flight is
//   sent again by B; B and `kiln controller list` judge A dead within
//   `staleSeconds` of the kill, its URL leaves B's boot scripts within one
//   refresh more;
// - the roles that judge from the store and the limits counted in it: with a
//   third member C, a host whose heartbeats went to the member that holds no
//   role and stop is reported unreachable once, by the holder, from the store;
//   its return once; after `kill -9` of the holder the other takes the role
//   and reports the next silent host once; discovery-limit and node-rate-limit
//   hold in total, from another loopback source (127.0.0.3) than the heartbeats.
// Each test finds the members it needs (the role holders, the live ones) from
// the store, not from what a test before it did. Fails, does not skip, when the
// local PostgreSQL is down. Figures printed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { defaultLoginLimit } from '../auth/login-limiter.js';
import { startReceiver, until } from '../../test/support/hook-scenario.js';
import { blockMainLoop, inspectEnv, inspectorUrl } from '../../test/support/inspector.js';
import {
  bedClusterConfig,
  startMemberBed,
  type BedMember,
  type MemberBed,
  type MemberListing,
} from '../../test/support/member-bed.js';
import { SINGLETON_ROLES } from './roles.js';

interface Event {
  seq: number;
  at: string;
  kind: string;
  hostId: string | null;
  message: string;
}

const STALE_SECONDS = 4;
const HEARTBEAT_SECONDS = 1;
const DISCOVERY_LIMIT = 3;
const NODE_RATE_LIMIT = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bed: MemberBed;
const agents: Agent[] = [];
// B serves a node image (a small stand-in built here), so a new host's script there starts a discovery boot that its
// timeline counts in progress (the load test below); A has none.
const scratch = mkdtempSync(join(tmpdir(), 'kiln-members-'));
const imageDir = join(scratch, 'node-image');
mkdirSync(imageDir);
writeFileSync(join(imageDir, 'vmlinuz'), randomBytes(64 << 10));
writeFileSync(join(imageDir, 'initrd.img'), randomBytes(64 << 10));
writeFileSync(join(imageDir, 'version'), '6.1.0-99-amd64-4c0ad0000001\n');
before(async () => {
  bed = await startMemberBed({
    tag: 'members',
    config: [
      bedClusterConfig,
      // A long hook timeout: without the new holder ending the dead one's claims, the held delivery would wait 60 s.
      'hooks: { pollMs: 100, timeoutSeconds: 50, retry: { attempts: 5, baseSeconds: 1, maxSeconds: 2 } }',
      'heartbeat: { intervalSeconds: 1, missedIntervals: 2, checkSeconds: 1, flushSeconds: 1 }',
    ],
    args: ['--discovery-limit', String(DISCOVERY_LIMIT), '--node-rate-limit', String(NODE_RATE_LIMIT)],
    // A's inspector lets the liveness test block its main loop from outside.
    members: [
      { name: 'a', env: inspectEnv },
      { name: 'b', args: ['--node-image', imageDir], ready: /node image: files recorded in the store/ },
    ],
  });
});
after(async () => {
  for (const a of agents) await a.close();
  await bed?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** The listing row of member `m` (matched by its listen port). */
const rowOf = <T extends MemberListing>(ms: T[], m: BedMember): T | undefined =>
  ms.find((x) => new URL(x.url).port === new URL(m.url).port);
const holders = (ms: MemberListing[]) =>
  Object.fromEntries(SINGLETON_ROLES.map((r) => [r, ms.filter((m) => m.roles.some((x) => x.role === r))]));
/** Requests from 127.0.0.3: the limits below count per source, and the heartbeats come from 127.0.0.1. */
function fromOtherSource() {
  const other = new Agent({ localAddress: '127.0.0.3' });
  agents.push(other);
  return (url: string, init: Parameters<typeof undiciFetch>[1] = {}) =>
    undiciFetch(url, { ...init, dispatcher: other, signal: AbortSignal.timeout(10_000) });
}
/** Waits until at least `seconds` are left in the clock's minute (the store's rate windows are clock minutes). */
async function roomInMinute(seconds: number): Promise<void> {
  const left = 60 - new Date().getUTCSeconds();
  if (left < seconds) await sleep((left + 1) * 1000);
}

test(
  'two controllers on one PostgreSQL: failed logins from one source count in total, then both members refuse it',
  { timeout: 60_000 },
  async (t) => {
    const [a, b] = [bed.member('a'), bed.member('b')];
    try {
      await bed.api(a, 'POST', '/api/v1/users', { name: 'ops', role: 'viewer', password: 'right-password-123' });
      await roomInMinute(10);
      const from3 = fromOtherSource();
      const login = async (s: BedMember, password: string, local = false) => {
        const init = {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'ops', password }),
        };
        const r = local
          ? await fetch(`${s.url}/api/v1/login`, { ...init, signal: AbortSignal.timeout(10_000) })
          : await from3(`${s.url}/api/v1/login`, init);
        await r.text();
        return r.status;
      };
      const limit = defaultLoginLimit.maxFailures;
      const tries: number[] = [];
      for (let i = 0; i < limit + 2; i++) tries.push(await login(i % 2 ? b : a, 'wrong-password-xyz'));
      t.diagnostic(`login limit ${limit}, wrong passwords through A and B alternately: ${tries.join(' ')}`);
      assert.deepEqual(
        tries,
        [...Array<number>(limit).fill(401), 429, 429],
        'refused as wrong up to the limit in total, then rate limited on both members',
      );
      const right = [await login(a, 'right-password-123'), await login(b, 'right-password-123')];
      assert.deepEqual(right, [429, 429], 'the right password from that source waits out the minute too');
      assert.equal(await login(b, 'right-password-123', true), 200, 'another source logs in');
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    }
  },
);

test(
  "two controllers on one PostgreSQL: each member publishes its data plane's load, and the other reads it",
  { timeout: 60_000 },
  async (t) => {
    const [a, b] = [bed.member('a'), bed.member('b')];
    try {
      const macs = Array.from({ length: 6 }, (_, i) => `52:54:00:4c:00:0${i}`);
      for (const [i, mac] of macs.entries())
        await bed.api(b, 'POST', '/api/v1/hosts', { name: `load-${i}`, nics: [{ mac }] });
      for (const mac of macs) {
        const r = await fetch(`${b.url}/boot/host.ipxe?mac=${mac}&platform=pcbios&arch=x86_64`, {
          signal: AbortSignal.timeout(10_000),
        });
        assert.equal(r.status, 200, await r.text());
      }
      type Listed = MemberListing & { load: { at: string; booting: number; sign: string | null } | null };
      let seen: Listed[] = [];
      const started = Date.now();
      await until(
        `A reads B's ${macs.length} boots in progress from the store`,
        async () => {
          seen = (await bed.api<{ items: Listed[] }>(a, 'GET', '/api/v1/controllers')).items;
          return (rowOf(seen, b)?.load?.booting ?? 0) >= macs.length;
        },
        15_000,
      );
      t.diagnostic(
        `after ${Date.now() - started} ms A lists: ${JSON.stringify(seen.map((m) => ({ name: m.name, load: m.load })))}`,
      );
      const aRow = rowOf(seen, a);
      assert.ok(aRow?.load, "A's own load is published too");
      assert.ok(
        aRow.load.booting < macs.length,
        "B's boots are B's: A's own timeline did not see them (a batch on A adds B's to its own)",
      );
      const list = await bed.kiln(a, ['controller', 'list']);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, new RegExp(`\\b${macs.length} booting\\b`), list.stdout);
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    }
  },
);

test(
  'two controllers on one PostgreSQL: a token revoked through A is refused by A at once and by B, which had it cached, within the NOTIFY delay',
  { timeout: 30_000 },
  async (t) => {
    const [a, b] = [bed.member('a'), bed.member('b')];
    try {
      const { token } = await bed.api<{ token: string }>(a, 'POST', '/api/v1/tokens', {
        name: 'revoke-across',
        role: 'viewer',
      });
      const status = async (s: BedMember) => {
        const r = await fetch(`${s.url}/api/v1/hosts?limit=1`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(5000),
        });
        await r.text();
        return r.status;
      };
      // Served twice by each member: the second answer comes from the member's principal cache.
      assert.deepEqual([await status(a), await status(a), await status(b), await status(b)], [200, 200, 200, 200]);
      await bed.api(a, 'DELETE', '/api/v1/tokens/revoke-across');
      const revoked = performance.now();
      assert.equal(await status(a), 401, 'the member that revoked refuses the token at its next request');
      let onB = 200;
      for (let i = 0; i < 200 && onB === 200; i++) {
        onB = await status(b);
        if (onB === 200) await sleep(5);
      }
      const ms = performance.now() - revoked;
      t.diagnostic(`B refused the revoked token ${ms.toFixed(1)} ms after the revocation through A returned`);
      assert.equal(onB, 401, 'B refuses the revoked token');
      assert.ok(ms < 1000, `B served the revoked token for ${ms.toFixed(0)} ms (NOTIFY delay)`);
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    }
  },
);

test(
  'a member whose main event loop is blocked for twice staleSeconds stays alive to the other member and kiln controller list (its heartbeat is written off the main loop)',
  { timeout: 60_000 },
  async (t) => {
    const [a, b] = [bed.member('a'), bed.member('b')];
    try {
      await until('A healthy on B', async () => rowOf(await bed.controllers(b), a)?.health === 'healthy', 20_000);
      const blockMs = 2 * STALE_SECONDS * 1000;
      const blocking = blockMainLoop(inspectorUrl(a.output()), blockMs);
      const state: { ended?: boolean; failed?: Error } = {};
      blocking.then(
        () => (state.ended = true),
        (err: unknown) => (state.failed = err instanceof Error ? err : new Error(String(err))),
      );
      // Every 500 ms until the block ends: A's health and silence as B judges them, whether B's chain script lists
      // A, and whether A itself answers (it must not: its loop is busy). Once, 1.5 s in: `kiln controller list`.
      const seen: Array<{ at: number; health?: string; silent?: number; listed: boolean; answered: boolean }> = [];
      let listed: { from: number; to: number; out: Awaited<ReturnType<MemberBed['kiln']>> } | undefined;
      const t0 = Date.now();
      while (!state.ended) {
        if (state.failed) throw state.failed;
        if (Date.now() - t0 > blockMs + 30_000) throw new Error('the block did not end');
        const at = Date.now();
        const [row, chain, own] = await Promise.all([
          bed.controllers(b).then((ms) => rowOf(ms, a)),
          fetch(`${b.url}/boot.ipxe`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text()),
          fetch(`${a.url}/api/v1/health`, { signal: AbortSignal.timeout(400) }).then(
            (r) => r.ok,
            () => false,
          ),
        ]);
        const inChain = chain.includes(`${a.url}/boot/host.ipxe`);
        seen.push({ at, health: row?.health, silent: row?.silentSeconds, listed: inChain, answered: own });
        if (!listed && at - t0 > 1500) {
          const from = Date.now();
          const out = await bed.kiln(b, ['controller', 'list']);
          listed = { from, to: Date.now(), out };
        }
        await sleep(500);
      }
      const block = await blocking;
      const during = seen.filter((s) => s.at >= block.from + 500 && s.at + 500 <= block.to);
      t.diagnostic(
        `A's main loop blocked ${block.to - block.from} ms; ${during.length} looks through B meanwhile: health ${[...new Set(during.map((s) => s.health))].join(',')}, A silent at most ${Math.max(...during.map((s) => s.silent ?? Infinity))} s (staleSeconds ${STALE_SECONDS}), A's own API answered ${during.filter((s) => s.answered).length} times`,
      );
      assert.deepEqual(
        during.filter((s) => s.answered).map((s) => s.at - block.from),
        [],
        "A's main loop was blocked: its own API did not answer",
      );
      assert.deepEqual(
        during.filter((s) => s.health !== 'healthy' || !s.listed).map((s) => [s.at - block.from, s.health, s.listed]),
        [],
        "B judged A healthy and listed A's URL in its chain script throughout",
      );
      assert.ok(during.length >= blockMs / 2000, `looked through B ${during.length} times during the block`);
      assert.ok(
        listed && listed.from >= block.from && listed.to <= block.to,
        `kiln controller list ran within the block (${listed ? `${listed.from - block.from}…${listed.to - block.from} ms` : 'not run'})`,
      );
      t.diagnostic(`kiln controller list through B, A blocked:\n${listed.out.stdout}`);
      assert.equal(listed.out.code, 0, listed.out.stderr);
      assert.equal(listed.out.stdout.match(/ healthy /g)?.length, 2, listed.out.stdout);
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    }
  },
);

test(
  'two controllers on one PostgreSQL: one holder per role, events cross over, a SIGKILLed holder hands every role and its hook delivery to the other',
  { timeout: 120_000 },
  async (t) => {
    const [a, b] = [bed.member('a'), bed.member('b')];
    try {
      // Both members are listed; every role has exactly one holder: A, which started first.
      let ms: MemberListing[] = [];
      await until('both members listed', async () => (ms = await bed.controllers(b)).length === 2, 20_000);
      const [idA, idB] = [rowOf(ms, a)!.id, rowOf(ms, b)!.id];
      for (const [role, hs] of Object.entries(holders(ms)))
        assert.deepEqual(
          hs.map((h) => h.id),
          [idA],
          `${role} is held by A alone`,
        );
      const listed = await bed.kiln(b, ['controller', 'list']);
      assert.equal(listed.code, 0, listed.stderr);
      t.diagnostic(`kiln controller list (both up):\n${listed.stdout}`);
      assert.equal(listed.stdout.match(/ healthy /g)?.length, 2, listed.stdout);

      // An event written through A reaches B's live stream.
      const stream = await fetch(`${b.url}/api/v1/events/stream?kind=host.`, {
        headers: { authorization: `Bearer ${bed.token}`, accept: 'text/event-stream' },
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
      await sleep(300); // the subscription starts from now
      const wrote = Date.now();
      await bed.api(a, 'POST', '/api/v1/hosts', { name: 'made-on-a', nics: [{ mac: '52:54:00:44:00:01' }] });
      await until('the event on B', () => seen.includes('made-on-a'), 10_000);
      t.diagnostic(`host.created written through A was on B's stream after ${Date.now() - wrote} ms`);
      await reader.cancel();
      await reading;

      // A hook delivery in flight on A: the receiver holds it open.
      let killed = 0;
      let secret = '';
      const rx = await startReceiver(() => secret);
      try {
        secret = (
          await bed.api<{ secret: string }>(a, 'POST', '/api/v1/hooks', { name: 'rx', url: rx.url, kinds: ['host.'] })
        ).secret;
        const held = rx.holdNext();
        await bed.api(a, 'POST', '/api/v1/hosts', { name: 'hooked', nics: [{ mac: '52:54:00:44:00:02' }] });
        await held;
        const heldId = rx.got.at(-1)!.deliveryId;

        // kill -9 A: B takes every role; measured from the kill to B's list naming B for all of them.
        killed = await bed.kill(a);
        rx.release();
        await until(
          'B to hold every role',
          async () =>
            Object.values(holders((ms = await bed.controllers(b)))).every((hs) => hs.length === 1 && hs[0]!.id === idB),
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
          `kill -9 of the holder: B held every role after ${tookOver} ms (terms ${rowOf(ms, b)!
            .roles.map((r) => `${r.role}#${r.term}`)
            .join(', ')}); the delivery in flight was sent again after ${resent} ms`,
        );
        assert.ok(
          rowOf(ms, b)!.roles.every((r) => r.term >= 2),
          'B took each role with a newer term',
        );
        await bed.api(b, 'DELETE', '/api/v1/hooks/rx'); // the receiver goes: later tests' host events are not its
      } finally {
        await rx.close();
      }

      // The dead member: unhealthy on B within staleSeconds of the kill (its last heartbeat came before it), out of
      // B's chain script within one member refresh (heartbeatSeconds) more (docs/cluster.md, "Member liveness").
      let unhealthyAt = 0;
      let unlistedAt = 0;
      while (!unhealthyAt || !unlistedAt) {
        const at = Date.now();
        if (at - killed > 20_000) throw new Error('A still healthy or listed 20 s after the kill');
        const [row, chain] = await Promise.all([
          bed.controllers(b).then((x) => rowOf(x, a)),
          fetch(`${b.url}/boot.ipxe`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text()),
        ]);
        if (!unhealthyAt && row?.health === 'unhealthy') unhealthyAt = at;
        if (!unlistedAt && !chain.includes(`${a.url}/boot/host.ipxe`)) unlistedAt = at;
        await sleep(200);
      }
      t.diagnostic(
        `A judged dead by B ${unhealthyAt - killed} ms after the kill, out of B's chain script after ${unlistedAt - killed} ms (staleSeconds ${STALE_SECONDS}, heartbeatSeconds ${HEARTBEAT_SECONDS})`,
      );
      // The bound plus 1 s for this loop's 200 ms looks and the API's answer on a loaded machine.
      assert.ok(unhealthyAt - killed <= (STALE_SECONDS + 1) * 1000, 'unhealthy within staleSeconds of the kill');
      assert.ok(
        unlistedAt - killed <= (STALE_SECONDS + HEARTBEAT_SECONDS + 1) * 1000,
        'out of the failover URLs within staleSeconds + heartbeatSeconds of the kill',
      );
      const shown = JSON.parse((await bed.kiln(b, ['controller', 'list', '--json'])).stdout) as {
        items: MemberListing[];
      };
      assert.deepEqual(
        shown.items.map((m) => [m.id, m.health]).sort(),
        [
          [idA, 'unhealthy'],
          [idB, 'healthy'],
        ].sort(),
      );
      t.diagnostic(`kiln controller list (A killed):\n${(await bed.kiln(b, ['controller', 'list'])).stdout}`);
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    }
  },
);

test(
  'two controllers on one PostgreSQL: silent hosts reported once by the holder from the store, also after kill -9 of the holder; discovery and node-credential limits hold in total',
  { timeout: 120_000 },
  async (t) => {
    const t0 = Date.now();
    // A third member: with the members before, two live ones of which one holds the roles (whatever happened above).
    const c = await bed.start('c');
    const live = ['a', 'b', 'c']
      .map((n) => bed.member(n))
      .filter((m) => m.child.exitCode === null && !m.child.signalCode);
    let holderRow: MemberListing | undefined;
    await until(
      'a holder of silent-hosts among the live members',
      async () => {
        const ms = await bed.controllers(c);
        holderRow = ms.find((m) => m.roles.some((r) => r.role === 'silent-hosts'));
        return holderRow !== undefined && live.some((m) => rowOf([holderRow!], m));
      },
      20_000,
    );
    const holder = live.find((m) => rowOf([holderRow!], m))!;
    const other = live.find((m) => m !== holder)!;
    t.diagnostic(`C up after ${Date.now() - t0} ms; ${holder.name} holds silent-hosts, ${other.name} judges nothing`);
    const events = async (kind: string, hostIds: string[]) =>
      (await bed.api<{ items: Event[] }>(other, 'GET', `/api/v1/events?kind=${kind}&limit=1000`)).items.filter(
        (e) => e.hostId !== null && hostIds.includes(e.hostId),
      );
    const holderOf = async (s: BedMember, role: string) =>
      (await bed.controllers(s)).find((m) => m.roles.some((r) => r.role === role));

    // Two installed hosts with node credentials: one enrols through each member.
    const enrol = async (s: BedMember, name: string, mac: string) => {
      const host = await bed.api<{ id: string }>(s, 'POST', '/api/v1/hosts', { name, nics: [{ mac }] });
      const res = await fetch(`${s.url}/api/v1/node/discover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ facts: { bootMac: mac, nics: [{ name: 'eth0', mac }] } }),
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(res.status, 200, await res.clone().text());
      return { id: host.id, credential: ((await res.json()) as { credential: string }).credential };
    };
    const h1 = await enrol(holder, 'silent-1', '52:54:00:69:00:01');
    const h2 = await enrol(other, 'silent-2', '52:54:00:69:00:02');
    const ours = [h1.id, h2.id];
    const beat = async (s: BedMember, credential: string) => {
      const res = await fetch(`${s.url}/api/v1/node/heartbeat`, {
        method: 'POST',
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
        body: JSON.stringify({ bootId: '11111111-2222-3333-4444-555555555555', uptimeSeconds: 5 }),
        signal: AbortSignal.timeout(5_000),
      });
      if (res.status !== 200) throw new Error(`heartbeat through ${s.url}: ${res.status} ${await res.text()}`);
    };
    // Heartbeats every 500 ms while `on`: h1 through the other member, h2 through the holder (the member that holds
    // no role judges nothing).
    const beating = { h1: true, h2: true, stop: false };
    let lastH2 = 0;
    const loop = (async () => {
      while (!beating.stop) {
        if (beating.h1) await beat(other, h1.credential).catch(() => {});
        if (beating.h2)
          await beat(holder, h2.credential).then(
            () => (lastH2 = Date.now()),
            () => {},
          );
        await sleep(500);
      }
    })();

    try {
      const idHolder = holderRow!.id;
      await sleep(1500);
      assert.deepEqual(await events('host.unreachable', ours), [], 'no host is silent yet');

      // h1 (heard only by the other member) stops: the holder reports it once, from the store. While it is silent,
      // the limits are tested.
      beating.h1 = false;
      const stopped1 = Date.now();

      // Limits across both members, from 127.0.0.3 (the heartbeats' source stays unblocked). Both counters are
      // per minute on the clock: start at least 8 s before the minute ends so both stay in one window.
      await roomInMinute(8);
      const from3 = fromOtherSource();
      // Eight unknown MACs fetch their boot script, alternately through the two members, four at a time.
      const macs = Array.from({ length: 8 }, (_, i) => `52:54:00:69:10:${(16 + i).toString(16)}`);
      const scripts = await Promise.all(
        macs.map((m, i) => from3(`${(i % 2 ? other : holder).url}/boot/host.ipxe?mac=${m}`).then((r) => r.status)),
      );
      let created = 0;
      for (const m of macs)
        created += (await bed.api<{ items: unknown[] }>(other, 'GET', `/api/v1/hosts?mac=${m}`)).items.length;
      t.diagnostic(`discovery-limit ${DISCOVERY_LIMIT}, 8 unknown MACs through two members: ${scripts.join(' ')}`);
      assert.equal(created, DISCOVERY_LIMIT, 'the limit holds in total, not per member');
      assert.equal(scripts.filter((s) => s === 200).length, DISCOVERY_LIMIT);
      assert.equal(scripts.filter((s) => s === 429).length, macs.length - DISCOVERY_LIMIT);
      // Wrong node credentials, alternately through both: the limit's worth of refusals, then rate_limited on both.
      const tries: number[] = [];
      for (let i = 0; i < NODE_RATE_LIMIT + 2; i++) {
        const r = await from3(`${(i % 2 ? other : holder).url}/api/v1/node/heartbeat`, {
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

      await until('h1 unreachable', async () => (await events('host.unreachable', ours)).length > 0, 20_000);
      const reported1 = Date.parse((await events('host.unreachable', ours))[0]!.at) - stopped1;
      await sleep(2500); // more check rounds on both members: no second event
      const u1 = await events('host.unreachable', ours);
      assert.deepEqual(
        u1.map((e) => e.hostId),
        [h1.id],
        'one event for h1, none for h2 (heartbeating through the holder all along)',
      );
      t.diagnostic(
        `h1's heartbeats (through ${other.name}) stopped: host.unreachable by the holder ${holder.name} after ${reported1} ms`,
      );
      // h1 comes back through the other member: it reports the return once (the mark was the holder's, in the store).
      beating.h1 = true;
      await until('h1 reachable', async () => (await events('host.reachable', ours)).length > 0, 10_000);
      await sleep(1500);
      assert.deepEqual(
        (await events('host.reachable', ours)).map((e) => e.hostId),
        [h1.id],
      );

      // kill -9 of the holder (of silent-hosts, and the member h2 heartbeats through): the other takes the role and
      // reports h2.
      beating.h2 = false;
      const killed = await bed.kill(holder);
      const silentSince = lastH2;
      let now: MemberListing | undefined;
      await until(
        `${other.name} to hold silent-hosts`,
        async () => (now = await holderOf(other, 'silent-hosts')) !== undefined && now.id !== idHolder,
        20_000,
      );
      const tookOver = Date.now() - killed;
      await until(
        'h2 unreachable',
        async () => (await events('host.unreachable', ours)).some((e) => e.hostId === h2.id),
        20_000,
      );
      const reported2 = Date.now() - killed;
      await sleep(2500);
      const u2 = await events('host.unreachable', ours);
      t.diagnostic(
        `kill -9 of the holder ${holder.name}: ${other.name} held silent-hosts#${now!.roles.find((r) => r.role === 'silent-hosts')!.term} after ${tookOver} ms; h2 (last heartbeat through the holder ${killed - silentSince} ms before the kill) reported ${reported2} ms after the kill`,
      );
      assert.deepEqual(
        u2.map((e) => e.hostId).sort(),
        [h1.id, h2.id].sort(),
        'h2 reported once by the new holder; h1 (heartbeating through the other member) not again',
      );
      t.diagnostic(`test body took ${Date.now() - t0} ms`);
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    } finally {
      beating.stop = true;
      await loop;
    }
  },
);
