import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { IdentityRequestTable } from './node-tables.js';

/** A node's request for an identity, waiting for (or given) an operator's approval. */
export interface IdentityRequest {
  hostId: string;
  requestHash: string;
  code: string;
  status: 'pending' | 'approved' | 'claimed';
  ip: string;
  mac: string;
  requestedAt: string;
  approvedAt: string | null;
  approvedBy: string | null;
}

const fromRow = (r: Selectable<IdentityRequestTable>): IdentityRequest => ({
  hostId: r.host_id,
  requestHash: r.request_hash,
  code: r.code,
  status: r.status as IdentityRequest['status'],
  ip: r.ip,
  mac: r.mac,
  requestedAt: r.requested_at,
  approvedAt: r.approved_at,
  approvedBy: r.approved_by,
});

/** The host's identity request, or null. */
export async function getIdentityRequest(db: Kysely<Database>, hostId: string): Promise<IdentityRequest | null> {
  const r = await db.selectFrom('node_identity_requests').selectAll().where('host_id', '=', hostId).executeTakeFirst();
  return r ? fromRow(r) : null;
}

/** Writes the host's request (replacing any earlier one). */
export async function putIdentityRequest(db: Kysely<Database>, q: IdentityRequest): Promise<void> {
  const row = {
    host_id: q.hostId,
    request_hash: q.requestHash,
    code: q.code,
    status: q.status,
    ip: q.ip,
    mac: q.mac,
    requested_at: q.requestedAt,
    approved_at: q.approvedAt,
    approved_by: q.approvedBy,
  };
  await db.deleteFrom('node_identity_requests').where('host_id', '=', q.hostId).execute();
  await db.insertInto('node_identity_requests').values(row).execute();
}
