// One conformance suite for the inventory over every store engine (SQLite, PostgreSQL).
import assert from 'node:assert/strict';
import { describe, it, before, after } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { randomBytes } from 'node:crypto';
import { hasCode } from '../error/kiln-error.js';
import { openSecret, sealSecret, type DataKey } from '../trust/credential/secret-box.js';
import { createInventoryService, type InventoryService } from './inventory-service.js';
import { normalizeMac } from '../net/mac.js';

/** Opens a migrated, empty database for one suite run; `close` removes it. */
export type OpenTestDb = () => Promise<{ db: Kysely<Database>; close(): Promise<void> }>;

const ctx = { actor: 'test' };
const mac = (s: string) => normalizeMac(s);
// The real secret box under a throw-away key: the suite checks that the
// service seals on write, opens on reveal, never shows either, and binds each
// sealed password to its host.
const key = new Uint8Array(randomBytes(32)) as DataKey;
const seal = (s: string, context: string) => sealSecret(key, s, context);
const open = (s: string, context: string) => openSecret(key, s, context);

export function runInventoryConformance(engine: string, openDb: OpenTestDb): void {
  describe(`inventory conformance (${engine})`, () => {
    let inv: InventoryService;
    let db: Kysely<Database>;
    let close: () => Promise<void>;
    before(async () => {
      const o = await openDb();
      close = o.close;
      db = o.db;
      inv = createInventoryService({ db: o.db, seal, open });
    });
    after(async () => close());

    it('creates a host and finds it by id, name and MAC', async () => {
      const h = await inv.createHost(
        {
          name: 'node-a',
          nics: [{ mac: mac('52-54-00-AA-00-01'), name: 'eth0', boot: false }],
          tags: ['rack1', 'gpu'],
        },
        ctx,
      );
      assert.equal(h.state, 'new');
      assert.deepEqual(h.nics, [{ mac: '52:54:00:aa:00:01', name: 'eth0', boot: true }]);
      assert.deepEqual(h.tags, ['gpu', 'rack1']);
      assert.equal((await inv.getHost(h.id)).name, 'node-a');
      assert.equal((await inv.getHost('node-a')).id, h.id);
      assert.equal((await inv.findHostByMac(mac('52:54:00:aa:00:01')))?.id, h.id);
      assert.equal(await inv.findHostByMac(mac('52:54:00:aa:00:99')), null);
    });

    it('refuses a duplicate name and a duplicate MAC with conflict', async () => {
      await assert.rejects(
        inv.createHost({ name: 'node-a', nics: [] }, ctx),
        (e) => hasCode(e, 'conflict') && /node-a/.test(e.message),
      );
      await assert.rejects(
        inv.createHost({ name: 'node-b', nics: [{ mac: mac('52:54:00:aa:00:01'), name: null, boot: true }] }, ctx),
        (e) => hasCode(e, 'conflict') && /52:54:00:aa:00:01/.test(e.message) && /node-a/.test(e.message),
      );
      assert.equal((await inv.listHosts({ namePrefix: 'node-b' })).length, 0, 'failed create left nothing behind');
    });

    it('refuses bad names and tags with every issue', async () => {
      await assert.rejects(
        inv.createHost({ name: 'Bad_Name', nics: [], tags: ['ok', 'no spaces'] }, ctx),
        (e) => hasCode(e, 'validation_failed') && e.issues.length === 2,
      );
    });

    it('lists with filters and keyset pages', async () => {
      for (let i = 0; i < 5; i++) {
        await inv.createHost(
          {
            name: `web-${i}`,
            nics: [{ mac: mac(`52:54:00:bb:00:0${i}`), name: null, boot: true }],
            tags: i % 2 ? ['odd'] : [],
          },
          ctx,
        );
      }
      assert.deepEqual(
        (await inv.listHosts({ namePrefix: 'web-' })).map((h) => h.name),
        ['web-0', 'web-1', 'web-2', 'web-3', 'web-4'],
      );
      assert.deepEqual(
        (await inv.listHosts({ tag: 'odd' })).map((h) => h.name),
        ['web-1', 'web-3'],
      );
      assert.deepEqual(
        (await inv.listHosts({ mac: mac('52:54:00:bb:00:02') })).map((h) => h.name),
        ['web-2'],
      );
      const page1 = await inv.listHosts({ namePrefix: 'web-', limit: 2 });
      const page2 = await inv.listHosts({ namePrefix: 'web-', limit: 2, after: page1.at(-1)!.name });
      assert.deepEqual(
        [...page1, ...page2].map((h) => h.name),
        ['web-0', 'web-1', 'web-2', 'web-3'],
      );
      assert.equal((await inv.listHosts({ state: 'ready' })).length, 0);
    });

    it('edits with optimistic concurrency', async () => {
      const h = await inv.getHost('web-0');
      const e1 = await inv.updateHost('web-0', { tags: ['edited'], labels: { rack: 'r1' } }, ctx, h.version);
      assert.equal(e1.version, h.version + 1);
      assert.deepEqual(e1.labels, { rack: 'r1' });
      await assert.rejects(inv.updateHost('web-0', { tags: [] }, ctx, h.version), (e) =>
        hasCode(e, 'precondition_failed'),
      );
      await assert.rejects(inv.updateHost('web-0', { name: 'web-1' }, ctx), (e) => hasCode(e, 'conflict'));
    });

    it('moves through the lifecycle and refuses illegal transitions', async () => {
      await inv.transition('web-1', 'discovering', { ...ctx, reason: 'booted' });
      const r = await inv.transition('web-1', 'ready', ctx);
      assert.equal(r.state, 'ready');
      await assert.rejects(
        inv.transition('web-1', 'deployed', ctx),
        (e) => hasCode(e, 'illegal_transition') && /deploying/.test(e.message),
      );
      const f = await inv.transition('web-1', 'failed', { ...ctx, reason: 'disk error', failedStage: 'install' });
      assert.equal(f.failedStage, 'install');
      assert.equal(f.stateReason, 'disk error');
      const ev = await inv.listEvents({ hostId: r.id, kind: 'host.state' });
      assert.deepEqual(
        ev.map((e) => (e.after as { state: string }).state),
        ['discovering', 'ready', 'failed'],
      );
      assert.equal(ev[0].reason, 'booted');
      assert.equal(ev[0].actor, 'test');
    });

    it('seals BMC passwords and never shows them', async () => {
      const h = await inv.createHost(
        {
          name: 'bmc-1',
          nics: [],
          bmc: { driver: 'ipmi', address: '127.0.0.1', username: 'admin', password: 'hunter2-secret' },
        },
        ctx,
      );
      assert.deepEqual(h.bmc, {
        driver: 'ipmi',
        address: '127.0.0.1',
        username: 'admin',
        hasPassword: true,
        options: {},
      });
      assert.equal(await inv.revealBmcPassword('bmc-1'), 'hunter2-secret');
      const edited = await inv.updateHost(
        'bmc-1',
        { bmc: { driver: 'ipmi', address: '127.0.0.2', username: 'admin' } },
        ctx,
      );
      assert.equal(edited.bmc?.hasPassword, true, 'omitting the password keeps it');
      assert.equal(await inv.revealBmcPassword('bmc-1'), 'hunter2-secret');
      const all = JSON.stringify([await inv.getHost('bmc-1'), await inv.listEvents({ hostId: h.id })]);
      assert.ok(!all.includes('hunter2-secret') && !all.includes('v1:'));
    });

    it("binds a sealed BMC password to its host: copied to another host's row it does not open there", async () => {
      const a = await inv.createHost(
        { name: 'seal-a', nics: [], bmc: { driver: 'ipmi', address: '127.0.0.1', password: 'pass-of-host-a' } },
        ctx,
      );
      const b = await inv.createHost(
        { name: 'seal-b', nics: [], bmc: { driver: 'ipmi', address: '127.0.0.1', password: 'pass-of-host-b' } },
        ctx,
      );
      const sealedA = (
        await db.selectFrom('hosts').select('bmc_password_sealed').where('id', '=', a.id).executeTakeFirstOrThrow()
      ).bmc_password_sealed as string;
      await db.updateTable('hosts').set({ bmc_password_sealed: sealedA }).where('id', '=', b.id).execute();
      await assert.rejects(inv.revealBmcPassword('seal-b'), (e) => hasCode(e, 'config_invalid'));
      assert.equal(await inv.revealBmcPassword('seal-a'), 'pass-of-host-a');
      await inv.deleteHost('seal-b', ctx);
    });

    it('re-seals passwords from before the binding (context "bmc") to their host once; afterwards a copy does not open', async () => {
      const a = await inv.createHost(
        { name: 'legacy-a', nics: [], bmc: { driver: 'ipmi', address: '127.0.0.1' } },
        ctx,
      );
      const b = await inv.createHost(
        { name: 'legacy-b', nics: [], bmc: { driver: 'ipmi', address: '127.0.0.1' } },
        ctx,
      );
      const old = sealSecret(key, 'legacy-pass-a', 'bmc');
      await db.updateTable('hosts').set({ bmc_password_sealed: old }).where('id', '=', a.id).execute();
      await db.updateTable('hosts').set({ bmc_password_sealed: 'v1:garbage' }).where('id', '=', b.id).execute();
      const r = await inv.rebindBmcSeals((x) => openSecret(key, x, 'bmc'));
      assert.equal(r.rebound, 1);
      assert.deepEqual(r.unreadable, ['legacy-b']);
      assert.equal(await inv.revealBmcPassword('legacy-a'), 'legacy-pass-a');
      assert.deepEqual(
        await inv.rebindBmcSeals((x) => openSecret(key, x, 'bmc')),
        { rebound: 0, unreadable: ['legacy-b'] },
        'a second start changes nothing',
      );
      // The old form is accepted only by the one-time re-seal: a legacy value copied in later does not open.
      await db.updateTable('hosts').set({ bmc_password_sealed: old }).where('id', '=', b.id).execute();
      await assert.rejects(inv.revealBmcPassword('legacy-b'), (e) => hasCode(e, 'config_invalid'));
      await inv.deleteHost('legacy-b', ctx);
    });

    it('deletes a host and keeps its events', async () => {
      const h = await inv.getHost('web-4');
      await inv.deleteHost('web-4', { actor: 'test', reason: 'decommissioned' });
      await assert.rejects(inv.getHost('web-4'), (e) => hasCode(e, 'not_found'));
      const ev = await inv.listEvents({ hostId: h.id, order: 'desc', limit: 1 });
      assert.equal(ev[0].kind, 'host.deleted');
      assert.equal(ev[0].reason, 'decommissioned');
      assert.equal((await inv.listHosts({ mac: mac('52:54:00:bb:00:04') })).length, 0);
      await inv.createHost({ name: 'web-4b', nics: [{ mac: mac('52:54:00:bb:00:04'), name: null, boot: true }] }, ctx);
    });

    it('pages events by sequence', async () => {
      const all = await inv.listEvents({ limit: 1000 });
      assert.ok(all.length >= 10);
      const seqs = all.map((e) => e.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
      );
      const next = await inv.listEvents({ after: seqs[2], limit: 2 });
      assert.deepEqual(
        next.map((e) => e.seq),
        seqs.slice(3, 5),
      );
      assert.equal(
        (await inv.listEvents({ kind: 'host.created' })).every((e) => e.kind === 'host.created'),
        true,
      );
    });
  });
}
