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
  };
  const exists = await db.selectFrom('node_trust').select('host_id').where('host_id', '=', t.hostId).executeTakeFirst();
  if (exists) await db.updateTable('node_trust').set(row).where('host_id', '=', t.hostId).execute();
  else await db.insertInto('node_trust').values(row).execute();
}

/** Records where and when a node last called with a valid credential. */
export async function touchNodeTrust(db: Kysely<Database>, hostId: string, ip: string, at: string): Promise<void> {
  await db.updateTable('node_trust').set({ last_ip: ip, last_seen_at: at }).where('host_id', '=', hostId).execute();
}
