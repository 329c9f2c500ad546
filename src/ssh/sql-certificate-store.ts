import type { Kysely, NotNull, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { SshCertificatesTable } from './ssh-tables.js';

/** A signed certificate as recorded (never the CA key, never a private key). */
export interface CertificateRecord {
  serial: number;
  kind: 'host' | 'user';
  hostId: string | null;
  keyId: string;
  principals: string[];
  keyFingerprint: string;
  validBefore: string;
  issuedAt: string;
  issuedBy: string;
  revokedAt: string | null;
}

const fromRow = (r: Selectable<SshCertificatesTable>): CertificateRecord => ({
  serial: Number(r.serial),
  kind: r.kind,
  hostId: r.host_id,
  keyId: r.key_id,
  principals: JSON.parse(r.principals) as string[],
  keyFingerprint: r.key_fingerprint,
  validBefore: r.valid_before,
  issuedAt: r.issued_at,
  issuedBy: r.issued_by,
  revokedAt: r.revoked_at,
});

/** Records a certificate about to be signed; returns the serial the database assigned. */
export async function insertCertificate(
  db: Kysely<Database>,
  c: Omit<CertificateRecord, 'serial' | 'revokedAt'>,
): Promise<number> {
  const res = await db
    .insertInto('ssh_certificates')
    .values({
      kind: c.kind,
      host_id: c.hostId,
      key_id: c.keyId,
      principals: JSON.stringify(c.principals),
      key_fingerprint: c.keyFingerprint,
      valid_before: c.validBefore,
      issued_at: c.issuedAt,
      issued_by: c.issuedBy,
    })
    .returning('serial')
    .executeTakeFirstOrThrow();
  return Number(res.serial);
}

/** Every certificate, or a host's, by serial. */
export async function listCertificates(db: Kysely<Database>, hostId?: string): Promise<CertificateRecord[]> {
  let q = db.selectFrom('ssh_certificates').selectAll().orderBy('serial');
  if (hostId) q = q.where('host_id', '=', hostId);
  return (await q.execute()).map(fromRow);
}

/** The unrevoked certificates with this serial, else of this host. */
export async function listUnrevoked(
  db: Kysely<Database>,
  sel: { serial?: number; hostId?: string },
): Promise<Array<Pick<CertificateRecord, 'serial' | 'hostId'>>> {
  let q = db.selectFrom('ssh_certificates').select(['serial', 'host_id']).where('revoked_at', 'is', null);
  if (sel.serial !== undefined) q = q.where('serial', '=', sel.serial);
  else if (sel.hostId) q = q.where('host_id', '=', sel.hostId);
  return (await q.execute()).map((r) => ({ serial: Number(r.serial), hostId: r.host_id }));
}

/** Stamps these serials revoked at `at`. */
export async function markRevoked(db: Kysely<Database>, serials: number[], at: string): Promise<void> {
  await db.updateTable('ssh_certificates').set({ revoked_at: at }).where('serial', 'in', serials).execute();
}

/** Every revoked serial with its revocation time, by serial (the KRL's input). */
export async function listRevoked(db: Kysely<Database>): Promise<Array<{ serial: number; revokedAt: string }>> {
  const rows = await db
    .selectFrom('ssh_certificates')
    .select(['serial', 'revoked_at'])
    .where('revoked_at', 'is not', null)
    .$narrowType<{ revoked_at: NotNull }>()
    .orderBy('serial')
    .execute();
  return rows.map((r) => ({ serial: Number(r.serial), revokedAt: r.revoked_at }));
}
