import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { NodeTrustTable } from './node-tables.js';

/** A host's node-trust row: whether enrolment is armed and the hash of its current credential. */
export interface NodeTrust {
  hostId: string;
  credentialHash: string | null;
  issuedAt: string | null;
  revokedAt: string | null;
  armed: boolean;
  armedReason: string | null;
  lastIp: string | null;
  lastSeenAt: string | null;
  /**
   * SHA-256 of the enrolment secret sent with the discovery report that was
   * issued the current credential; null once that credential was used, or when
   * it was issued any other way (installer, rotation, identity approval).
   */
  enrolSecretHash: string | null;
  /** Until when (ISO time) a retry of that report may replace the unused credential; null with `enrolSecretHash`. */
  enrolUntil: string | null;
  /** The stage of the node's last completion (`POST /node/complete`); null before the first. */
  completedStage: string | null;
  /** SHA-256 of the credential that completion came with: a later credential is another node's call. */
  completedCredentialHash: string | null;
  /** Until when (ISO time) the same completion again is a repeat (complete-repeat.ts). */
  completedUntil: string | null;
  /** SHA-256 of the credential the last progress report of stage "installed" came with; null before one. */
  installedCredentialHash: string | null;
  /** Until when (ISO time) that report again is a repeat (complete-repeat.ts `isInstalledRepeat`). */
  installedUntil: string | null;
}

const fromRow = (r: Selectable<NodeTrustTable>): NodeTrust => ({
  hostId: r.host_id,
  credentialHash: r.credential_hash,
  issuedAt: r.issued_at,
  revokedAt: r.revoked_at,
  armed: Number(r.armed) === 1,
  armedReason: r.armed_reason,
  lastIp: r.last_ip,
  lastSeenAt: r.last_seen_at,
  enrolSecretHash: r.enrol_secret_hash,
  enrolUntil: r.enrol_until,
  completedStage: r.completed_stage,
  completedCredentialHash: r.completed_credential_hash,
  completedUntil: r.completed_until,
  installedCredentialHash: r.installed_credential_hash,
  installedUntil: r.installed_until,
});

/** The trust row of a host; a host without one has never enrolled and is armed. */
export async function getNodeTrust(db: Kysely<Database>, hostId: string): Promise<NodeTrust> {
  const r = await db.selectFrom('node_trust').selectAll().where('host_id', '=', hostId).executeTakeFirst();
  return r
    ? fromRow(r)
    : {
        hostId,
        credentialHash: null,
        issuedAt: null,
        revokedAt: null,
        armed: true,
        armedReason: 'never enrolled',
        lastIp: null,
        lastSeenAt: null,
        enrolSecretHash: null,
        enrolUntil: null,
        completedStage: null,
        completedCredentialHash: null,
        completedUntil: null,
        installedCredentialHash: null,
        installedUntil: null,
      };
}

/** The trust row holding this credential hash, or null. */
export async function getNodeTrustByHash(db: Kysely<Database>, hash: string): Promise<NodeTrust | null> {
  const r = await db.selectFrom('node_trust').selectAll().where('credential_hash', '=', hash).executeTakeFirst();
  return r ? fromRow(r) : null;
}

/** Writes the whole row (insert or update). */
export async function putNodeTrust(db: Kysely<Database>, t: NodeTrust): Promise<void> {
  const row = {
    host_id: t.hostId,
    credential_hash: t.credentialHash,
    issued_at: t.issuedAt,
    revoked_at: t.revokedAt,
    armed: t.armed ? 1 : 0,
    armed_reason: t.armedReason,
    last_ip: t.lastIp,
    last_seen_at: t.lastSeenAt,
    enrol_secret_hash: t.enrolSecretHash,
    enrol_until: t.enrolUntil,
    completed_stage: t.completedStage,
    completed_credential_hash: t.completedCredentialHash,
    completed_until: t.completedUntil,
    installed_credential_hash: t.installedCredentialHash,
    installed_until: t.installedUntil,
  };
  const exists = await db.selectFrom('node_trust').select('host_id').where('host_id', '=', t.hostId).executeTakeFirst();
  if (exists) await db.updateTable('node_trust').set(row).where('host_id', '=', t.hostId).execute();
  else await db.insertInto('node_trust').values(row).execute();
}

/** Records where and when a node last called with a valid credential. */
export async function touchNodeTrust(db: Kysely<Database>, hostId: string, ip: string, at: string): Promise<void> {
  await db.updateTable('node_trust').set({ last_ip: ip, last_seen_at: at }).where('host_id', '=', hostId).execute();
}

/**
 * Marks the credential `credentialHash` of a host as used: forgets its
 * enrolment secret, so a retried discovery report can no longer replace it.
 * False when the host's credential is no longer that one (a retry replaced it
 * first). Called on the first authentication only (`enrolSecretHash` set).
 */
export async function markCredentialUsed(
  db: Kysely<Database>,
  hostId: string,
  credentialHash: string,
): Promise<boolean> {
  const r = await db
    .updateTable('node_trust')
    .set({ enrol_secret_hash: null, enrol_until: null })
    .where('host_id', '=', hostId)
    .where('credential_hash', '=', credentialHash)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** A credential replacing an unused one: the new hash, when and from where it was issued. */
export interface ReplacedCredential {
  hostId: string;
  /** The unused credential being replaced and the enrolment secret it was issued for (both hashed). */
  oldHash: string;
  enrolSecretHash: string;
  newHash: string;
  at: string;
  ip: string;
}

/**
 * Replaces a host's credential only while it is still `oldHash` and still
 * unused (its enrolment secret kept): one conditional write, so a concurrent
 * first use of the old credential and this replacement cannot both win.
 * The enrolment window is left as it was (retries do not extend it).
 */
export async function replaceUnusedCredential(db: Kysely<Database>, r: ReplacedCredential): Promise<boolean> {
  const out = await db
    .updateTable('node_trust')
    .set({ credential_hash: r.newHash, issued_at: r.at, last_ip: r.ip, last_seen_at: r.at })
    .where('host_id', '=', r.hostId)
    .where('credential_hash', '=', r.oldHash)
    .where('enrol_secret_hash', '=', r.enrolSecretHash)
    .executeTakeFirst();
  return Number(out.numUpdatedRows) === 1;
}

/** A node's completion: its stage, the credential it came with (hashed) and the end of its repeat window. */
export interface Completion {
  hostId: string;
  stage: string;
  credentialHash: string;
  until: string;
}

/**
 * Records a completion on the host's trust row, only while the host's credential is still `credentialHash` (the
 * one the call was authenticated with): false when it changed meanwhile, and nothing is written.
 */
export async function recordCompletion(db: Kysely<Database>, c: Completion): Promise<boolean> {
  const out = await db
    .updateTable('node_trust')
    .set({ completed_stage: c.stage, completed_credential_hash: c.credentialHash, completed_until: c.until })
    .where('host_id', '=', c.hostId)
    .where('credential_hash', '=', c.credentialHash)
    .executeTakeFirst();
  return Number(out.numUpdatedRows) === 1;
}

/**
 * Records the last progress report (stage "installed") taken with `credentialHash`, only while that is still the
 * host's credential and no report with it is inside its window at `at`: true for the one call that records it
 * (two racing repeats: the row lock lets one through), false otherwise, and nothing is written.
 */
export async function recordInstalled(
  db: Kysely<Database>,
  r: { hostId: string; credentialHash: string; at: string; until: string },
): Promise<boolean> {
  const out = await db
    .updateTable('node_trust')
    .set({ installed_credential_hash: r.credentialHash, installed_until: r.until })
    .where('host_id', '=', r.hostId)
    .where('credential_hash', '=', r.credentialHash)
    .where((eb) =>
      eb.or([
        eb('installed_credential_hash', 'is', null),
        eb('installed_credential_hash', '!=', r.credentialHash),
        eb('installed_until', 'is', null),
        eb('installed_until', '<', r.at),
      ]),
    )
    .executeTakeFirst();
  return Number(out.numUpdatedRows) === 1;
}
