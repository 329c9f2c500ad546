import BetterSqlite3 from 'better-sqlite3';
import { sql, type Expression, type Insertable, type Kysely, type Selectable, type SqlBool } from 'kysely';
import type { Database } from '../schema.js';
import type { HostsTable } from './inventory-tables.js';
import { KilnError } from '../error/kiln-error.js';
import { isUniqueViolation } from '../store/unique-violation.js';
import { isPostgres } from '../store/database.js';
import type { Host, HostFilter, Nic } from './host.js';
import type { HostState } from './lifecycle.js';
import type { Mac } from '../net/mac.js';

/** A host row as stored; `bmcPasswordSealed` is the sealed (encrypted) password and never leaves the service. */
export interface StoredHost extends Host {
  bmcPasswordSealed: string | null;
}

type HostRow = Selectable<HostsTable>;

function rowToHost(r: HostRow, nics: Nic[], tags: string[]): StoredHost {
  return {
    id: r.id,
    name: r.name,
    state: r.state,
    stateReason: r.state_reason,
    failedStage: r.failed_stage,
    profile: r.profile,
    firmware: (r.firmware as Host['firmware']) ?? null,
    nics,
    tags,
    labels: JSON.parse(r.labels) as Host['labels'],
    facts: JSON.parse(r.facts) as Host['facts'],
    hardwareHash: r.hardware_hash,
    needsAttention: Number(r.needs_attention) === 1,
    bmc: r.bmc_driver
      ? {
          driver: r.bmc_driver,
          address: r.bmc_address,
          username: r.bmc_username,
          hasPassword: r.bmc_password_sealed !== null,
          options: JSON.parse(r.bmc_options) as NonNullable<Host['bmc']>['options'],
        }
      : null,
    bmcPasswordSealed: r.bmc_password_sealed,
    version: Number(r.version),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function hostToRow(h: StoredHost): Insertable<HostsTable> {
  return {
    id: h.id,
    name: h.name,
    state: h.state,
    state_reason: h.stateReason,
    failed_stage: h.failedStage,
    profile: h.profile,
    firmware: h.firmware,
    facts: JSON.stringify(h.facts),
    hardware_hash: h.hardwareHash,
    needs_attention: h.needsAttention ? 1 : 0,
    labels: JSON.stringify(h.labels),
    bmc_driver: h.bmc?.driver ?? null,
    bmc_address: h.bmc?.address ?? null,
    bmc_username: h.bmc?.username ?? null,
    bmc_password_sealed: h.bmc ? h.bmcPasswordSealed : null,
    bmc_options: JSON.stringify(h.bmc?.options ?? {}),
    version: h.version,
    created_at: h.createdAt,
    updated_at: h.updatedAt,
    doc: hostDoc(h),
    doc_version: h.version,
  };
}

/** The host as the API shows it, as JSON: everything but the sealed BMC password. */
export function hostDoc(h: StoredHost): string {
  const { bmcPasswordSealed: _drop, ...shown } = h;
  return JSON.stringify(shown);
}

/** Adds NICs and tags to a page of host rows: one query for each, whatever the page size (no query per host). */
async function attach(db: Kysely<Database>, rows: HostRow[]): Promise<StoredHost[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const nics = await db
    .selectFrom('host_nics')
    .select(['host_id', 'mac', 'name', 'is_boot'])
    .where('host_id', 'in', ids)
    .orderBy('mac')
    .execute();
  const tags = await db
    .selectFrom('host_tags')
    .select(['host_id', 'tag'])
    .where('host_id', 'in', ids)
    .orderBy('tag')
    .execute();
  const nicsOf = new Map<string, Nic[]>(ids.map((id) => [id, []]));
  for (const n of nics) nicsOf.get(n.host_id)?.push({ mac: n.mac as Mac, name: n.name, boot: Number(n.is_boot) === 1 });
  const tagsOf = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const t of tags) tagsOf.get(t.host_id)?.push(t.tag);
  return rows.map((r) => rowToHost(r, nicsOf.get(r.id)!, tagsOf.get(r.id)!));
}

/** Gets a host by id or, failing that, by name; null when neither matches. */
export async function getHost(db: Kysely<Database>, idOrName: string): Promise<StoredHost | null> {
  const rows = await db
    .selectFrom('hosts')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .execute();
  const exact = rows.find((r) => r.id === idOrName) ?? rows[0];
  return exact ? (await attach(db, [exact]))[0] : null;
}

/** Gets the host that owns `mac`, or null. */
export async function getHostByMac(db: Kysely<Database>, mac: Mac): Promise<StoredHost | null> {
  const nic = await db.selectFrom('host_nics').select('host_id').where('mac', '=', mac).executeTakeFirst();
  return nic ? getHost(db, nic.host_id) : null;
}

/** What the DHCP hot path needs of the host with a MAC: id, state, name and labels (`dhcp.ip`), or null. */
export type HostByMacLookup = (mac: Mac) => Promise<Pick<Host, 'id' | 'state' | 'name' | 'labels'> | null>;

/**
 * `getHostByMac` for the DHCP hot path on an SQLite file: a read-only second
 * connection with one prepared statement. WAL readers never wait for the
 * writer, so a DISCOVER is not queued behind the write transactions that hold
 * the main connection's lock (in a boot storm: every new host's creation,
 * every discovery report; docs/booting.md, "Boot storm").
 */
export function openSqliteHostByMacReader(file: string): { lookup: HostByMacLookup; close(): void } {
  const reader = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  reader.pragma('busy_timeout = 1000');
  const stmt = reader.prepare(
    'select h.id, h.state, h.name, h.labels from host_nics n join hosts h on h.id = n.host_id where n.mac = ?',
  );
  return {
    lookup: async (mac) => {
      const r = stmt.get(mac) as { id: string; state: HostState; name: string; labels: string } | undefined;
      return r
        ? { id: r.id, state: r.state, name: r.name, labels: JSON.parse(r.labels) as Record<string, string> }
        : null;
    },
    close: () => reader.close(),
  };
}

/**
 * Lists hosts ordered by name, one page at a time (keyset on the name: `after`
 * is the last name of the previous page). The most selective filter drives the
 * query through its index in name order (MAC, label, tag: the name is carried
 * in host_nics' host, host_labels and host_tags; state and profile: (state,
 * name) and (profile, name)), so a page reads about `limit` index entries;
 * the other filters are checked per row. Migration 0340 has the indexes.
 * Exported for plan checks (`.explain()`: bench/inventory.bench.ts on PostgreSQL).
 */
export function pageQuery(db: Kysely<Database>, f: HostFilter): PageQuery {
  const limit = f.limit ?? 100;
  // The other filters, checked per row of the driving index; `order` is the driving index's name column.
  const rest = (order: string): Expression<SqlBool> => {
    const col = sql.ref(order);
    const c: Expression<SqlBool>[] = [];
    if (f.state) c.push(sql<SqlBool>`hosts.state = ${f.state}`);
    if (f.profile) c.push(sql<SqlBool>`hosts.profile = ${f.profile}`);
    if (f.attention) c.push(sql<SqlBool>`hosts.needs_attention = 1`);
    if (f.tag && (f.mac || f.label))
      c.push(sql<SqlBool>`exists (select 1 from host_tags t where t.host_id = hosts.id and t.tag = ${f.tag})`);
    if (f.label && f.mac)
      c.push(
        sql<SqlBool>`exists (select 1 from host_labels l where l.host_id = hosts.id and l.key = ${f.label.key} and l.value = ${f.label.value})`,
      );
    // Host names are ASCII and compared bytewise (SQLite's default; COLLATE "C" on PostgreSQL), so this range is the prefix.
    if (f.namePrefix) c.push(sql<SqlBool>`${col} >= ${f.namePrefix} and ${col} < ${`${f.namePrefix}\uffff`}`);
    if (f.after !== undefined) c.push(sql<SqlBool>`${col} > ${f.after}`);
    return c.length ? sql<SqlBool>`${sql.join(c, sql` and `)}` : sql<SqlBool>`1 = 1`;
  };
  if (f.mac)
    return db
      .selectFrom('host_nics as d')
      .innerJoin('hosts', 'hosts.id', 'd.host_id')
      .select(pageColumns)
      .where('d.mac', '=', f.mac)
      .where(rest('hosts.name'))
      .limit(limit);
  if (f.label)
    return db
      .selectFrom('host_labels as d')
      .innerJoin('hosts', 'hosts.id', 'd.host_id')
      .select(pageColumns)
      .where('d.key', '=', f.label.key)
      .where('d.value', '=', f.label.value)
      .where(rest('d.host_name'))
      .orderBy('d.host_name')
      .limit(limit);
  if (f.tag)
    return db
      .selectFrom('host_tags as d')
      .innerJoin('hosts', 'hosts.id', 'd.host_id')
      .select(pageColumns)
      .where('d.tag', '=', f.tag)
      .where(rest('d.host_name'))
      .orderBy('d.host_name')
      .limit(limit);
  return db.selectFrom('hosts').select(pageColumns).where(rest('hosts.name')).orderBy('hosts.name').limit(limit);
}

async function pageRows(db: Kysely<Database>, f: HostFilter): Promise<PageRow[]> {
  return pageQuery(db, f).execute();
}

type PageRow = Pick<HostRow, 'id' | 'name' | 'state' | 'version' | 'doc' | 'doc_version'>;

/** One page's query: run it, or ask the database how it would run it. */
export interface PageQuery {
  execute(): Promise<PageRow[]>;
  explain(): Promise<Array<Record<string, unknown>>>;
}
const pageColumns = [
  'hosts.id',
  'hosts.name',
  'hosts.state',
  'hosts.version',
  'hosts.doc',
  'hosts.doc_version',
] as const;

/** Full hosts by id, in the order of `ids`. */
async function hostsByIds(db: Kysely<Database>, ids: string[]): Promise<StoredHost[]> {
  if (ids.length === 0) return [];
  const byId = new Map(
    (await attach(db, await db.selectFrom('hosts').selectAll().where('id', 'in', ids).execute())).map((h) => [h.id, h]),
  );
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/** Lists hosts (see `pageRows` for order and filters). */
export async function listHosts(db: Kysely<Database>, f: HostFilter): Promise<StoredHost[]> {
  return hostsByIds(
    db,
    (await pageRows(db, f)).map((r) => r.id),
  );
}

/**
 * Lists hosts as their stored API documents (JSON text, see `hostDoc`): a page
 * costs one index range and `limit` strings. A document older than its host
 * (written before migration 0340, or by an older controller) is rendered
 * again from the rows.
 */
export async function listHostDocs(
  db: Kysely<Database>,
  f: HostFilter,
): Promise<Array<{ id: string; name: string; state: string; doc: string }>> {
  const rows = await pageRows(db, f);
  const stale = rows.filter((r) => Number(r.doc_version) !== Number(r.version));
  const fresh = new Map(
    (
      await hostsByIds(
        db,
        stale.map((r) => r.id),
      )
    ).map((h) => [h.id, hostDoc(h)]),
  );
  return rows.map((r) => ({ id: r.id, name: r.name, state: r.state, doc: fresh.get(r.id) ?? r.doc }));
}

/**
 * The next `batch` hosts after id `after` whose document is older than the host, in id order: a range of the
 * partial index `hosts_stale_doc` (migration 0341), which holds only such hosts, so a start with none reads
 * nothing. The condition is written as in the index (SQLite matches it as written).
 */
export function staleDocIds(db: Kysely<Database>, after: string, batch: number) {
  return db
    .selectFrom('hosts')
    .select('id')
    .where('id', '>', after)
    .whereRef('doc_version', '!=', 'version')
    .orderBy('id')
    .limit(batch);
}

/**
 * Renders the documents of hosts whose stored one is older than the host
 * (see `listHostDocs`), `batch` hosts per transaction, until done or
 * `signal` aborts; returns how many. A host changed meanwhile keeps the
 * document its change wrote.
 */
export async function renderStaleDocs(db: Kysely<Database>, signal?: AbortSignal, batch = 500): Promise<number> {
  let done = 0;
  let after = '';
  for (let round = 0; round < 1_000_000 && !signal?.aborted; round++) {
    const ids = (await staleDocIds(db, after, batch).execute()).map((r) => r.id);
    if (ids.length === 0) break;
    await db.transaction().execute(async (trx) => {
      for (const h of await hostsByIds(trx, ids)) {
        const res = await trx
          .updateTable('hosts')
          .set({ doc: hostDoc(h), doc_version: h.version })
          .where('id', '=', h.id)
          .where('version', '=', h.version)
          .executeTakeFirst();
        done += Number(res.numUpdatedRows);
      }
    });
    after = ids.at(-1)!;
  }
  return done;
}

/** Counts hosts per state, for metrics and the UI. */
export async function countHostsByState(db: Kysely<Database>): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('hosts')
    .select(['state'])
    .select((eb) => eb.fn.countAll().as('n'))
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

async function assertFree(db: Kysely<Database>, h: StoredHost): Promise<void> {
  const sameName = await db
    .selectFrom('hosts')
    .select('id')
    .where('name', '=', h.name)
    .where('id', '!=', h.id)
    .executeTakeFirst();
  if (sameName)
    throw new KilnError('conflict', `a host named ${h.name} already exists; choose another name`, {
      issues: [{ path: '/name', code: 'duplicate', message: 'name already used' }],
    });
  if (h.nics.length === 0) return;
  const taken = await db
    .selectFrom('host_nics')
    .innerJoin('hosts', 'hosts.id', 'host_nics.host_id')
    .select(['host_nics.mac', 'hosts.name'])
    .where(
      'host_nics.mac',
      'in',
      h.nics.map((n) => n.mac),
    )
    .where('host_nics.host_id', '!=', h.id)
    .executeTakeFirst();
  if (taken) {
    throw new KilnError('conflict', `MAC ${taken.mac} already belongs to host ${taken.name}; remove it there first`, {
      issues: [{ path: '/nics', code: 'duplicate', message: `MAC ${taken.mac} is used by ${taken.name}` }],
    });
  }
}

/**
 * Inserts or replaces a host with its NICs and tags. Must run inside a
 * transaction. With `expectedVersion` the update succeeds only if the stored
 * version still matches (`precondition_failed` otherwise).
 */
export async function putHost(db: Kysely<Database>, h: StoredHost, expectedVersion?: number): Promise<void> {
  await assertFree(db, h);
  try {
    await writeHost(db, h, expectedVersion);
  } catch (err) {
    // Two controllers racing past assertFree: the database's unique index decides.
    if (isUniqueViolation(err))
      throw new KilnError(
        'conflict',
        `host ${h.name} clashes with a host created at the same moment (same name or MAC); re-read and retry`,
        { cause: err },
      );
    throw err;
  }
}

/** The PostgreSQL NOTIFY channel a host write signals: other controllers forget their host list pages (host-change-notify.ts). */
export const HOSTS_CHANNEL = 'kiln_hosts';

/**
 * On PostgreSQL, tells every listening controller that hosts changed, when (and only if) the caller's
 * transaction commits; identical notifications of one transaction fold into one. SQLite: nothing (one writer).
 */
async function notifyHostsChanged(db: Kysely<Database>): Promise<void> {
  if (isPostgres(db)) await sql`select pg_notify(${HOSTS_CHANNEL}, '')`.execute(db);
}

async function writeHost(db: Kysely<Database>, h: StoredHost, expectedVersion?: number): Promise<void> {
  await notifyHostsChanged(db);
  const row = hostToRow(h);
  if (expectedVersion === undefined) {
    await db.insertInto('hosts').values(row).execute();
  } else {
    const res = await db
      .updateTable('hosts')
      .set(row)
      .where('id', '=', h.id)
      .where('version', '=', expectedVersion)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) {
      throw new KilnError(
        'precondition_failed',
        `host ${h.name} changed since version ${expectedVersion}; re-read it and retry`,
      );
    }
    await db.deleteFrom('host_nics').where('host_id', '=', h.id).execute();
    await db.deleteFrom('host_tags').where('host_id', '=', h.id).execute();
    await db.deleteFrom('host_labels').where('host_id', '=', h.id).execute();
  }
  if (h.nics.length) {
    await db
      .insertInto('host_nics')
      .values(h.nics.map((n) => ({ mac: n.mac, host_id: h.id, name: n.name, is_boot: n.boot ? 1 : 0 })))
      .execute();
  }
  if (h.tags.length) {
    await db
      .insertInto('host_tags')
      .values(h.tags.map((tag) => ({ host_id: h.id, tag, host_name: h.name })))
      .execute();
  }
  const labels = Object.entries(h.labels);
  if (labels.length) {
    await db
      .insertInto('host_labels')
      .values(labels.map(([key, value]) => ({ host_id: h.id, key, value, host_name: h.name })))
      .execute();
  }
}

/**
 * Inserts new hosts with their NICs, tags and labels in a few multi-row
 * statements: bulk loads (bench/inventory.bench.ts) and imports. No friendly
 * duplicate check: a clash fails on the unique indexes. Must run inside a
 * transaction.
 */
export async function insertHosts(db: Kysely<Database>, batch: StoredHost[]): Promise<void> {
  await notifyHostsChanged(db);
  // Bounded statements: at most 500 rows each (SQLite and PostgreSQL bind-parameter limits).
  const chunks = <T>(xs: T[]) =>
    Array.from({ length: Math.ceil(xs.length / 500) }, (_, i) => xs.slice(i * 500, i * 500 + 500));
  for (const c of chunks(batch.map(hostToRow))) await db.insertInto('hosts').values(c).execute();
  const nics = batch.flatMap((h) =>
    h.nics.map((n) => ({ mac: n.mac, host_id: h.id, name: n.name, is_boot: n.boot ? 1 : 0 })),
  );
  for (const c of chunks(nics)) await db.insertInto('host_nics').values(c).execute();
  const tags = batch.flatMap((h) => h.tags.map((tag) => ({ host_id: h.id, tag, host_name: h.name })));
  for (const c of chunks(tags)) await db.insertInto('host_tags').values(c).execute();
  const labels = batch.flatMap((h) =>
    Object.entries(h.labels).map(([key, value]) => ({ host_id: h.id, key, value, host_name: h.name })),
  );
  for (const c of chunks(labels)) await db.insertInto('host_labels').values(c).execute();
}

/** Deletes a host with its NICs, tags and label rows. Events about it stay. */
export async function deleteHost(db: Kysely<Database>, id: string): Promise<void> {
  await notifyHostsChanged(db);
  await db.deleteFrom('host_nics').where('host_id', '=', id).execute();
  await db.deleteFrom('host_tags').where('host_id', '=', id).execute();
  await db.deleteFrom('host_labels').where('host_id', '=', id).execute();
  await db.deleteFrom('hosts').where('id', '=', id).execute();
}
