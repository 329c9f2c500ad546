// The member CAs, join tokens and the data key check (member_cas, join_tokens, data_key_checks).
import type { Kysely } from 'kysely';
import type { MemberTrustTables } from './member-trust-tables.js';

/** One member's CA public halves as stored. */
export interface MemberCaRow {
  id: string;
  name: string;
  sshCaPublicKey: string;
  tlsCaPem: string;
  tlsCaFingerprint: string;
  addedAt: string;
  addedBy: string;
  lastStartedAt: string | null;
  /** The member's repo signing key (migration 0483): v4 fingerprint and binary public key in base64; null until set. */
  repoKeyFingerprint?: string | null;
  repoPublicKey?: string | null;
  /** What its published repo subset serves (migration 0484, src/repo/peer-sync-decision.ts); null until it publishes. */
  repoReleases?: string | null;
}

/** Adds a member's CAs; false when a row with this SSH CA exists already (nothing changed). */
export async function insertMemberCa(db: Kysely<MemberTrustTables>, r: MemberCaRow): Promise<boolean> {
  const res = await db
    .insertInto('member_cas')
    .values({
      id: r.id,
      name: r.name,
      ssh_ca_public_key: r.sshCaPublicKey,
      tls_ca_pem: r.tlsCaPem,
      tls_ca_fingerprint: r.tlsCaFingerprint,
      added_at: r.addedAt,
      added_by: r.addedBy,
      last_started_at: r.lastStartedAt,
      repo_key_fingerprint: r.repoKeyFingerprint ?? null,
      repo_public_key: r.repoPublicKey ?? null,
      repo_releases: r.repoReleases ?? null,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n) === 1;
}

/** A member started with these CAs: its name and start time, and its TLS CA (a renewed CA certificate replaces the old). */
export async function touchMemberCa(
  db: Kysely<MemberTrustTables>,
  id: string,
  o: { name: string; tlsCaPem: string; tlsCaFingerprint: string; at: string },
): Promise<void> {
  await db
    .updateTable('member_cas')
    .set({ name: o.name, tls_ca_pem: o.tlsCaPem, tls_ca_fingerprint: o.tlsCaFingerprint, last_started_at: o.at })
    .where('id', '=', id)
    .execute();
}

/** Every member's CAs, oldest first. */
export async function listMemberCas(db: Kysely<MemberTrustTables>): Promise<MemberCaRow[]> {
  const rows = await db.selectFrom('member_cas').selectAll().orderBy('added_at').orderBy('id').execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    sshCaPublicKey: r.ssh_ca_public_key,
    tlsCaPem: r.tls_ca_pem,
    tlsCaFingerprint: r.tls_ca_fingerprint,
    addedAt: r.added_at,
    addedBy: r.added_by,
    lastStartedAt: r.last_started_at,
    repoKeyFingerprint: r.repo_key_fingerprint,
    repoPublicKey: r.repo_public_key,
    repoReleases: r.repo_releases,
  }));
}

/** Sets a member's repo public key (a member whose key was made anew replaces the old one). */
export async function putMemberRepoKey(
  db: Kysely<MemberTrustTables>,
  id: string,
  key: { fingerprint: string; publicKey: string },
): Promise<void> {
  await db
    .updateTable('member_cas')
    .set({ repo_key_fingerprint: key.fingerprint, repo_public_key: key.publicKey })
    .where('id', '=', id)
    .execute();
}

/** Records what a member's published repo subset serves (its own row only: each member writes what it publishes). */
export async function putMemberRepoReleases(
  db: Kysely<MemberTrustTables>,
  id: string,
  releases: string,
): Promise<void> {
  await db.updateTable('member_cas').set({ repo_releases: releases }).where('id', '=', id).execute();
}

/** Stores a new join token (its secret's hash only). */
export async function insertJoinToken(
  db: Kysely<MemberTrustTables>,
  t: { id: string; secretHash: string; createdAt: string; createdBy: string; expiresAt: string },
): Promise<void> {
  await db
    .insertInto('join_tokens')
    .values({
      id: t.id,
      secret_hash: t.secretHash,
      created_at: t.createdAt,
      created_by: t.createdBy,
      expires_at: t.expiresAt,
      used_at: null,
      used_by: null,
    })
    .execute();
}

/**
 * Spends a join token in one statement: true only when the id and secret hash
 * match, it was never used and it has not expired at `at`. Two joins racing
 * for one token: exactly one gets true.
 */
export async function consumeJoinToken(
  db: Kysely<MemberTrustTables>,
  t: { id: string; secretHash: string; at: string; usedBy: string },
): Promise<boolean> {
  const res = await db
    .updateTable('join_tokens')
    .set({ used_at: t.at, used_by: t.usedBy })
    .where('id', '=', t.id)
    .where('secret_hash', '=', t.secretHash)
    .where('used_at', 'is', null)
    .where('expires_at', '>', t.at)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** The sealed data key check, or undefined before the first member wrote it. */
export async function getDataKeyCheck(db: Kysely<MemberTrustTables>): Promise<string | undefined> {
  return (await db.selectFrom('data_key_checks').select('sealed').where('id', '=', 'data-key').executeTakeFirst())
    ?.sealed;
}

/** Writes the data key check unless one exists (the first member's wins). */
export async function putDataKeyCheck(db: Kysely<MemberTrustTables>, sealed: string, at: string): Promise<void> {
  await db
    .insertInto('data_key_checks')
    .values({ id: 'data-key', sealed, created_at: at })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}
