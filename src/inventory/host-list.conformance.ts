// Host list paging conformance over every store engine (SQLite, PostgreSQL):
// every filter and combination pages through each matching host exactly once,
// in bytewise name order, while hosts are created and deleted between pages;
// the stored list documents are the hosts as getHost shows them.
import assert from 'node:assert/strict';
import { describe, it, before, after } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { createInventoryService, type InventoryService } from './inventory-service.js';
import type { Host, HostFilter } from './host.js';
import { normalizeMac } from '../net/mac.js';
import type { OpenTestDb } from './inventory.conformance.js';
import { insertHosts } from './sql-host-store.js';

const ctx = { actor: 'test' };
const noSeal = {
  seal: (s: string) => s,
  open: (s: string) => s,
};

/** A small deterministic PRNG (mulberry32), so a failure replays. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bytewise = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const hex = (b: number) => (b & 255).toString(16).padStart(2, '0');
const mac = (i: number) => normalizeMac(`52:54:00:7e:${hex(i >> 8)}:${hex(i)}`);

function matches(h: Host, f: HostFilter): boolean {
  return (
    (!f.state || h.state === f.state) &&
    (!f.tag || h.tags.includes(f.tag)) &&
    (!f.label || h.labels[f.label.key] === f.label.value) &&
    (!f.mac || h.nics.some((n) => n.mac === f.mac)) &&
    (!f.namePrefix || h.name.startsWith(f.namePrefix)) &&
    (!f.profile || h.profile === f.profile) &&
    (!f.attention || h.needsAttention)
  );
}

/** Every page of `f` with page size `limit`, through the documents the API sends; bounded. */
async function pageAll(
  inv: InventoryService,
  f: HostFilter,
  limit: number,
  between?: () => Promise<void>,
): Promise<Host[]> {
  const out: Host[] = [];
  let after: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const rows = await inv.listHostDocs({ ...f, limit: limit + 1, ...(after !== undefined ? { after } : {}) });
    const shown = rows.slice(0, limit);
    out.push(...shown.map((r) => JSON.parse(r.doc) as Host));
    if (rows.length <= limit) return out;
    after = shown.at(-1)!.name;
    await between?.();
  }
  throw new Error('more than 1000 pages');
}

export function runHostListConformance(engine: string, openDb: OpenTestDb): void {
  describe(`host list paging (${engine})`, () => {
    let inv: InventoryService;
    let db: Kysely<Database>;
    let close: () => Promise<void>;
    let n = 0;
    const rnd = prng(17);
    // Names that sort differently bytewise and under a linguistic collation (hyphen, dot, digits).
    const stems = ['a-1', 'a.1', 'a1', 'a-10', 'a10', 'b', 'web-01', 'web-1', 'web.1', 'web1', 'web-1-a', 'x'];
    const create = async (name: string) => {
      const i = n++;
      const h = await inv.createHost(
        {
          name,
          nics: [
            { mac: mac(2 * i), name: 'eno1', boot: true },
            { mac: mac(2 * i + 1), name: 'eno2', boot: false },
          ],
          tags: [`rack${i % 3}`, ...(i % 4 === 0 ? ['gpu'] : [])],
          labels: { rack: `r${i % 3}`, owner: `team-${i % 2}` },
          profile: i % 5 === 0 ? null : i % 2 ? 'debian-12' : 'rocky-9',
          state: i % 3 === 1 ? 'ready' : 'new',
          facts: { serial: `S${i}`, disks: [{ name: 'nvme0n1', sizeBytes: 1e12 }] },
        },
        ctx,
      );
      if (i % 7 === 3) await inv.transition(h.id, 'discovering', ctx);
      if (i % 6 === 2) await inv.updateHost(h.id, { needsAttention: true }, ctx);
      return h;
    };

    before(async () => {
      const o = await openDb();
      close = o.close;
      db = o.db;
      inv = createInventoryService({ db: o.db, ...noSeal });
      for (const s of stems) for (const suffix of ['', '-2', '.z']) await create(`${s}${suffix}`);
    });
    after(async () => close());

    const all = async () => {
      const names = (await db.selectFrom('hosts').select('name').execute()).map((r) => r.name);
      return Promise.all(names.map((name) => inv.getHost(name)));
    };

    const filters: HostFilter[] = [
      {},
      { state: 'ready' },
      { state: 'discovering' },
      { tag: 'rack1' },
      { tag: 'gpu' },
      { label: { key: 'rack', value: 'r2' } },
      { label: { key: 'owner', value: 'team-0' } },
      { mac: mac(7) },
      { namePrefix: 'web-1' },
      { namePrefix: 'a' },
      { profile: 'rocky-9' },
      { attention: true },
      { attention: true, tag: 'rack1' },
      { state: 'ready', tag: 'rack1' },
      { tag: 'gpu', label: { key: 'owner', value: 'team-0' } },
      { label: { key: 'rack', value: 'r0' }, namePrefix: 'web' },
      { profile: 'debian-12', state: 'new', namePrefix: 'a' },
      { mac: mac(8), tag: 'rack1' },
      { mac: mac(8), label: { key: 'rack', value: 'r1' }, state: 'new' },
      { tag: 'nope' },
      { label: { key: 'rack', value: 'nope' } },
    ];

    it('every filter and combination pages through each matching host once, in bytewise name order', async () => {
      const hosts = await all();
      for (const f of filters) {
        const want = hosts
          .filter((h) => matches(h, f))
          .map((h) => h.name)
          .sort(bytewise);
        for (const limit of [1, 3, 7, 1000]) {
          const got = (await pageAll(inv, f, limit)).map((h) => h.name);
          assert.deepEqual(got, want, `${JSON.stringify(f)} in pages of ${limit}`);
        }
      }
      assert.ok(
        filters.some((f) => hosts.filter((h) => matches(h, f)).length > 7),
        'some filter spans several pages',
      );
    });

    it('the documents a page sends are the hosts as getHost shows them, also after edits, moves and renames', async () => {
      await inv.updateHost('b', { tags: ['edited'], labels: { rack: 'r9' }, name: 'b-renamed' }, ctx);
      await inv.transition('x', 'discovering', ctx);
      const hosts = await all();
      const listed = await pageAll(inv, {}, 5);
      assert.deepEqual(
        listed,
        [...hosts].sort((a, b) => bytewise(a.name, b.name)),
      );
      assert.deepEqual(
        (await pageAll(inv, { label: { key: 'rack', value: 'r9' } }, 5)).map((h) => h.name),
        ['b-renamed'],
      );
      assert.deepEqual(
        (await pageAll(inv, { tag: 'edited', namePrefix: 'b-' }, 5)).map((h) => h.name),
        ['b-renamed'],
      );
      // listHosts (internal callers) pages the same way.
      assert.deepEqual(
        (await inv.listHosts({ tag: 'rack1', limit: 1000 })).map((h) => h.name),
        hosts
          .filter((h) => h.tags.includes('rack1'))
          .map((h) => h.name)
          .sort(bytewise),
      );
    });

    it('while hosts are created and deleted between pages, each host there throughout appears exactly once, in order', async () => {
      for (const f of [{}, { tag: 'rack0' }, { label: { key: 'owner', value: 'team-1' } }, { state: 'new' as const }]) {
        const before = await all();
        const deleted = new Set<string>();
        const created = new Set<string>();
        const churn = async () => {
          // Two hosts created at random places in the order, one deleted: bounded, deterministic.
          for (let k = 0; k < 2; k++) {
            const name = `${stems[Math.floor(rnd() * stems.length)]}-c${n}`;
            created.add(name);
            await create(name);
          }
          const live = (await db.selectFrom('hosts').select('name').execute()).map((r) => r.name);
          const victim = live[Math.floor(rnd() * live.length)]!;
          deleted.add(victim);
          await inv.deleteHost(victim, ctx);
        };
        const got = (await pageAll(inv, f, 4, churn)).map((h) => h.name);
        assert.deepEqual(got, [...got].sort(bytewise), `${JSON.stringify(f)}: in order`);
        assert.equal(new Set(got).size, got.length, `${JSON.stringify(f)}: no host twice`);
        const stayed = before.filter((h) => matches(h, f) && !deleted.has(h.name)).map((h) => h.name);
        const missing = stayed.filter((name) => !got.includes(name));
        assert.deepEqual(missing, [], `${JSON.stringify(f)}: every host present throughout is listed`);
        const foreign = got.filter((name) => !before.some((h) => h.name === name) && !created.has(name));
        assert.deepEqual(foreign, []);
        assert.ok(deleted.size > 2, 'hosts were deleted while paging');
      }
    });

    it('bulk-inserted hosts (insertHosts) list and show like created ones', async () => {
      const at = new Date().toISOString();
      const bulk = ['bulk-1', 'bulk-2', 'bulk-3'].map((name, i) => ({
        id: `00000000-0000-4000-8000-00000000b00${i}`,
        name,
        state: 'ready' as const,
        stateReason: null,
        failedStage: null,
        profile: 'debian-12',
        firmware: null,
        nics: [{ mac: mac(900 + i), name: 'eno1', boot: true }],
        tags: ['bulk'],
        labels: { batch: 'b1' },
        facts: { serial: `B${i}` },
        hardwareHash: null,
        needsAttention: false,
        bmc: null,
        bmcPasswordSealed: null,
        version: 1,
        createdAt: at,
        updatedAt: at,
      }));
      await db.transaction().execute((trx) => insertHosts(trx, bulk));
      const shown = await Promise.all(bulk.map((h) => inv.getHost(h.name)));
      assert.deepEqual(await pageAll(inv, { label: { key: 'batch', value: 'b1' }, tag: 'bulk' }, 2), shown);
      assert.deepEqual(await pageAll(inv, { mac: mac(901) }, 2), [shown[1]]);
    });

    it('hosts whose stored document is older than the host (before 0340, an older controller) list correctly and are re-rendered once', async () => {
      const stale = (await db.selectFrom('hosts').select('id').orderBy('id').limit(10).execute()).map((r) => r.id);
      await db.updateTable('hosts').set({ doc: '', doc_version: 0 }).where('id', 'in', stale).execute();
      const hosts = await all();
      assert.deepEqual(
        await pageAll(inv, {}, 6),
        [...hosts].sort((a, b) => bytewise(a.name, b.name)),
      );
      assert.equal(await inv.renderStaleDocs(), stale.length);
      assert.equal(await inv.renderStaleDocs(), 0, 'a second start renders nothing');
      const left = await db.selectFrom('hosts').select('id').whereRef('doc_version', '!=', 'version').execute();
      assert.deepEqual(left, []);
      assert.deepEqual(
        await pageAll(inv, {}, 6),
        [...hosts].sort((a, b) => bytewise(a.name, b.name)),
      );
    });
  });
}
