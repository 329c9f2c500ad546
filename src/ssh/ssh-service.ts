import type { Kysely, NotNull, Selectable } from 'kysely';
import type { Database } from '../store/schema.js';
import type { SshCertificatesTable } from './ssh-tables.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/sql-event-store.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import type { SshCa } from '../trust/ssh/ssh-ca.js';
import { formatCertAuthorityLine } from '../trust/ssh/ssh-ca.js';
import { signHostCertificate, signUserCertificate } from '../trust/ssh/ssh-certificate.js';
import { encodeKrl } from '../trust/ssh/ssh-krl.js';
import { formatSshFingerprint, parseSshPublicKey } from '../trust/ssh/ssh-public-key.js';

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

/**
 * Kiln's SSH certificate authority in service form: host certificates for
 * nodes (signed over their public keys only), user certificates for
 * operators, the known_hosts line, and the KRL of revoked serials.
 */
export function createSshService(deps: {
  db: Kysely<Database>;
  ca: SshCa;
  inventory: InventoryService;
  domain: string;
  hostValidityDays: number;
  now?: () => Date;
}) {
  const { db, ca } = deps;
  const now = () => (deps.now ?? (() => new Date()))();

  async function record(
    kind: 'host' | 'user',
    hostId: string | null,
    keyId: string,
    principals: string[],
    fp: string,
    validBefore: Date,
    actor: string,
  ): Promise<number> {
    const at = now().toISOString();
    const res = await db
      .insertInto('ssh_certificates')
      .values({
        kind,
        host_id: hostId,
        key_id: keyId,
        principals: JSON.stringify(principals),
        key_fingerprint: fp,
        valid_before: validBefore.toISOString(),
        issued_at: at,
        issued_by: actor,
      })
      .returning('serial')
      .executeTakeFirstOrThrow();
    return Number(res.serial);
  }

  return {
    knownHostsLine: () => formatCertAuthorityLine(ca.publicKey, '*'),
    caPublicKeyLine: () => ca.publicKeyLine,

    /** Host certificates for each public host key a node sends; principals are its names and last known address. */
    async signHostKeys(hostId: string, keyLines: string[], extraPrincipals: string[] = []): Promise<string[]> {
      const host = await deps.inventory.getHost(hostId);
      if (keyLines.length === 0 || keyLines.length > 8)
        throw new KilnError('validation_failed', 'send 1–8 public host keys, one per line');
      const short = host.name.split('.')[0];
      const principals = [
        ...new Set([
          host.name,
          short,
          ...(deps.domain && !host.name.includes('.') ? [`${host.name}.${deps.domain}`] : []),
          ...extraPrincipals,
        ]),
      ];
      const validAfter = new Date(now().getTime() - 5 * 60_000);
      const validBefore = new Date(now().getTime() + deps.hostValidityDays * 86_400_000);
      const out: string[] = [];
      for (const line of keyLines) {
        const key = parseSshPublicKey(line);
        const fp = formatSshFingerprint(key.blob);
        const keyId = `host:${host.name}:${key.type}`;
        const serial = await record('host', host.id, keyId, principals, fp, validBefore, `node:${host.name}`);
        out.push(signHostCertificate({ ca, publicKeyLine: key, principals, validAfter, validBefore, serial, keyId }));
        await appendEvent(
          db,
          {
            actor: `node:${host.name}`,
            kind: 'ssh.host_certificate',
            hostId: host.id,
            subject: host.name,
            message: `SSH host certificate serial ${serial} (${key.type}, ${fp}) issued to ${host.name} for ${principals.join(',')}`,
            data: { serial, keyId, principals, validBefore: validBefore.toISOString() },
          },
          now().toISOString(),
        );
      }
      return out;
    },

    /** A user certificate for an operator's public key. */
    async signUserKey(keyLine: string, principals: string[], validHours: number, actor: string): Promise<string> {
      if (principals.length === 0) throw new KilnError('validation_failed', 'give at least one principal (user name)');
      const key = parseSshPublicKey(keyLine);
      const validBefore = new Date(now().getTime() + validHours * 3_600_000);
      const keyId = `user:${actor}:${principals.join(',')}`;
      const serial = await record('user', null, keyId, principals, formatSshFingerprint(key.blob), validBefore, actor);
      await appendEvent(
        db,
        {
          actor,
          kind: 'ssh.user_certificate',
          subject: principals.join(','),
          message: `SSH user certificate serial ${serial} issued for ${principals.join(',')}`,
          data: { serial, keyId, validBefore: validBefore.toISOString() },
        },
        now().toISOString(),
      );
      return signUserCertificate({
        ca,
        publicKeyLine: key,
        principals,
        validAfter: new Date(now().getTime() - 5 * 60_000),
        validBefore,
        serial,
        keyId,
      });
    },

    async list(hostId?: string): Promise<CertificateRecord[]> {
      let q = db.selectFrom('ssh_certificates').selectAll().orderBy('serial');
      if (hostId) q = q.where('host_id', '=', hostId);
      return (await q.execute()).map(fromRow);
    },

    /** Revokes certificates by serial, or every certificate of a host. Returns the serials revoked. */
    async revoke(sel: { serial?: number; hostId?: string }, actor: string, reason: string): Promise<number[]> {
      let q = db.selectFrom('ssh_certificates').select(['serial', 'host_id']).where('revoked_at', 'is', null);
      if (sel.serial !== undefined) q = q.where('serial', '=', sel.serial);
      else if (sel.hostId) q = q.where('host_id', '=', sel.hostId);
      else throw new KilnError('validation_failed', 'name a serial or a host');
      const rows = await q.execute();
      if (rows.length === 0) throw new KilnError('not_found', 'no unrevoked certificate matches');
      const at = now().toISOString();
      const serials = rows.map((r) => Number(r.serial));
      await db.updateTable('ssh_certificates').set({ revoked_at: at }).where('serial', 'in', serials).execute();
      await appendEvent(
        db,
        {
          actor,
          kind: 'ssh.revoked',
          hostId: sel.hostId ?? rows[0].host_id ?? null,
          message: `SSH certificates revoked: ${serials.join(', ')}`,
          reason,
          data: { serials },
        },
        at,
      );
      return serials;
    },

    /** The KRL of every revoked serial; its version grows with each revocation. */
    async krl(): Promise<Uint8Array> {
      const revoked = await db
        .selectFrom('ssh_certificates')
        .select(['serial', 'revoked_at'])
        .where('revoked_at', 'is not', null)
        .$narrowType<{ revoked_at: NotNull }>()
        .orderBy('serial')
        .execute();
      const newest = revoked.reduce((m, r) => (r.revoked_at > m ? r.revoked_at : m), '1970-01-01T00:00:00.000Z');
      return encodeKrl({
        ca: ca.publicKey,
        serials: revoked.map((r) => Number(r.serial)),
        version: revoked.length + 1,
        generatedAt: new Date(newest),
        comment: 'kiln',
      });
    },
  };
}

/** The SSH service's type. */
export type SshService = ReturnType<typeof createSshService>;
