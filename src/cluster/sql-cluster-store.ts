// The members and role terms of one store (controllers, controller_roles).
import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../store/database.js';
import type { ClusterTables } from './cluster-tables.js';
import type { MemberTrustTables } from './member-trust-tables.js';
import type { SingletonRole } from './roles.js';

/** One member as stored. */
export interface MemberRow {
  id: string;
  name: string;
  url: string;
  /** Its node API URL (HTTPS when its TLS listener is on); null for a row written before migration 0480. */
  apiUrl: string | null;
  version: string;
  startedAt: string;
  lastSeen: string;
  stoppedAt: string | null;
  /** What its data plane said at its last heartbeat (JSON, migration 0411), null when it publishes none. */
  load: string | null;
}

/** Who holds a role, from which term. */
export interface RoleRow {
  role: string;
  holder: string;
  term: number;
  since: string;
}

/**
 * Records a starting member (`apiUrl` and `memberCa`: where and how peers fetch content from it; null when it cannot
 * serve them; `dhcpServerIds`: the DHCP server identifiers it answers with, null or empty when it serves no DHCP).
 */
export async function putMember(
  db: Kysely<ClusterTables>,
  m: Omit<MemberRow, 'stoppedAt' | 'load'> & {
    apiUrl?: string | null;
    memberCa?: string | null;
    dhcpServerIds?: readonly string[] | null;
  },
): Promise<void> {
  await db
    .insertInto('controllers')
    .values({
      id: m.id,
      name: m.name,
      url: m.url,
      version: m.version,
      started_at: m.startedAt,
      last_seen: m.lastSeen,
      stopped_at: null,
      api_url: m.apiUrl ?? null,
      member_ca: m.memberCa ?? null,
      dhcp_server_ids: m.dhcpServerIds?.length ? m.dhcpServerIds.join(',') : null,
    })
    .execute();
}

/** A clean stop: the member says so, and gives up the role rows it holds (the next holder still takes term + 1). */
export async function stopMember(db: Kysely<ClusterTables>, id: string, at: string): Promise<void> {
  await db.updateTable('controllers').set({ last_seen: at, stopped_at: at }).where('id', '=', id).execute();
}

/** Members seen since `since` (ISO), newest start first, and every member that still holds a role. */
export async function listMembers(db: Kysely<ClusterTables>, since: string): Promise<MemberRow[]> {
  const rows = await db
    .selectFrom('controllers')
    .selectAll()
    .where((eb) =>
      eb.or([eb('last_seen', '>=', since), eb('id', 'in', eb.selectFrom('controller_roles').select('holder'))]),
    )
    .orderBy('started_at', 'desc')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    url: r.url,
    apiUrl: r.api_url,
    version: r.version,
    startedAt: r.started_at,
    lastSeen: r.last_seen,
    stoppedAt: r.stopped_at,
    load: r.load,
  }));
}

/** A member content can be fetched from: its HTTPS API URL and the TLS CA certificate that verifies it. */
export interface PeerEndpoint {
  id: string;
  name: string;
  apiUrl: string;
  tlsCaPem: string;
  /** Its repo signing public key (binary OpenPGP, base64) from `member_cas`, null while it has none (migration 0483). */
  repoPublicKey?: string | null;
  /** What its published repo subset serves (JSON, migration 0484), null while it records none. */
  repoReleases?: string | null;
}

/**
 * The other members running now (heartbeat at or after `since`, not stopped)
 * that serve HTTPS and whose CA is in `member_cas`, oldest start first.
 */
export async function listPeerEndpoints(
  db: Kysely<ClusterTables & MemberTrustTables>,
  o: { self: string; since: string },
): Promise<PeerEndpoint[]> {
  const rows = await db
    .selectFrom('controllers')
    .innerJoin('member_cas', 'member_cas.id', 'controllers.member_ca')
    .select([
      'controllers.id',
      'controllers.name',
      'controllers.api_url',
      'member_cas.tls_ca_pem',
      'member_cas.repo_public_key',
      'member_cas.repo_releases',
    ])
    .where('controllers.id', '!=', o.self)
    .where('controllers.last_seen', '>=', o.since)
    .where('controllers.stopped_at', 'is', null)
    .where('controllers.api_url', 'like', 'https://%')
    .orderBy('controllers.started_at')
    .orderBy('controllers.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    apiUrl: r.api_url!,
    tlsCaPem: r.tls_ca_pem,
    repoPublicKey: r.repo_public_key,
    repoReleases: r.repo_releases,
  }));
}

/** The other running members' published loads (heartbeat at or after `since`, not stopped), as stored (JSON or null). */
export async function listPeerLoads(
  db: Kysely<ClusterTables>,
  o: { self: string; since: string },
): Promise<Array<{ id: string; name: string; load: string | null }>> {
  return db
    .selectFrom('controllers')
    .select(['id', 'name', 'load'])
    .where('id', '!=', o.self)
    .where('last_seen', '>=', o.since)
    .where('stopped_at', 'is', null)
    .orderBy('started_at')
    .orderBy('id')
    .execute();
}

/** Every role row. */
export async function listRoles(db: Kysely<ClusterTables>): Promise<RoleRow[]> {
  const rows = await db.selectFrom('controller_roles').selectAll().orderBy('role').execute();
  return rows.map((r) => ({ role: r.role, holder: r.holder, term: Number(r.term), since: r.since }));
}

/**
 * Takes a role for `holder` with the next term, in one statement (an upsert
 * that adds one to the stored term), and returns that term. Only a member
 * holding the role's lock calls it, so two calls for one role never race.
 */
export async function takeTerm(
  db: Kysely<ClusterTables>,
  role: SingletonRole,
  holder: string,
  at: string,
): Promise<number> {
  const r = await db
    .insertInto('controller_roles')
    .values({ role, holder, term: 1, since: at })
    .onConflict((oc) =>
      oc.column('role').doUpdateSet({ holder, since: at, term: sql<number>`controller_roles.term + 1` }),
    )
    .returning('term')
    .executeTakeFirstOrThrow();
  return Number(r.term);
}

/** True while the role's row still names `holder` at `term` (the fence a holder checks before it acts). */
export async function holdsTerm(
  db: Kysely<ClusterTables>,
  role: SingletonRole,
  holder: string,
  term: number,
): Promise<boolean> {
  const r = await db
    .selectFrom('controller_roles')
    .select('role')
    .where('role', '=', role)
    .where('holder', '=', holder)
    .where('term', '=', term)
    .executeTakeFirst();
  return r !== undefined;
}

/**
 * The fence inside a write: in the caller's transaction `tx`, true while the
 * role's row names `holder` at `term`. On PostgreSQL the row is read `FOR
 * SHARE`, so a new holder's `takeTerm` waits until this transaction ends: the
 * write and the term it was checked against commit together, or the write is
 * refused. On SQLite the transaction holds the one writer lock already.
 */
export async function lockTerm(
  tx: Kysely<ClusterTables>,
  role: SingletonRole,
  holder: string,
  term: number,
): Promise<boolean> {
  const q = tx
    .selectFrom('controller_roles')
    .select('role')
    .where('role', '=', role)
    .where('holder', '=', holder)
    .where('term', '=', term);
  const r = await (isPostgres(tx) ? q.forShare() : q).executeTakeFirst();
  return r !== undefined;
}
