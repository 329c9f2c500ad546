import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import * as certificates from './sql-certificate-store.js';
import type { CertificateRecord } from './sql-certificate-store.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/event-log.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import type { SshCa } from '../trust/ssh/ssh-ca.js';
import { formatCertAuthorityLine } from '../trust/ssh/ssh-ca.js';
import { signHostCertificate, signUserCertificate } from '../trust/ssh/ssh-certificate.js';
import { encodeKrl } from '../trust/ssh/ssh-krl.js';
import { formatSshFingerprint, parseSshPublicKey, type SshPublicKey } from '../trust/ssh/ssh-public-key.js';

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
  /**
   * Every member's SSH CA (controllers that joined each other, this one's first); default: this CA alone. Each
   * signs with its own CA; clients trust them all (known_hosts), and the KRL revokes a serial under each.
   */
  memberCas?: () => readonly SshPublicKey[];
  now?: () => Date;
}) {
  const { db, ca } = deps;
  const memberCas = (): SshPublicKey[] => {
    const all = [ca.publicKey, ...(deps.memberCas?.() ?? [])];
    const seen = new Set<string>();
    return all.filter((k) => {
      const fp = formatSshFingerprint(k.blob);
      if (seen.has(fp)) return false;
      seen.add(fp);
      return true;
    });
  };
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
    return certificates.insertCertificate(db, {
      kind,
      hostId,
      keyId,
      principals,
      keyFingerprint: fp,
      validBefore: validBefore.toISOString(),
      issuedAt: now().toISOString(),
      issuedBy: actor,
    });
  }

  return {
    /** One `@cert-authority *` line per member's SSH CA, this controller's first. */
    knownHostsLines: (): string[] => memberCas().map((k) => formatCertAuthorityLine(k, '*')),
    caPublicKeyLine: () => ca.publicKeyLine,

    /** Host certificates for each public host key a node sends; principals are its names and `extraPrincipals` (its addresses). */
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
      return certificates.listCertificates(db, hostId);
    },

    /**
     * Revokes certificates by serial, or every certificate of a host, in the caller's transaction `tx` when
     * given (release and retire revoke in the same unit as the state change). Returns the serials revoked.
     */
    async revoke(
      sel: { serial?: number; hostId?: string },
      actor: string,
      reason: string,
      tx?: Kysely<Database>,
    ): Promise<number[]> {
      if (sel.serial === undefined && !sel.hostId) throw new KilnError('validation_failed', 'name a serial or a host');
      const q = tx ?? db;
      const rows = await certificates.listUnrevoked(q, sel);
      if (rows.length === 0) throw new KilnError('not_found', 'no unrevoked certificate matches');
      const at = now().toISOString();
      const serials = rows.map((r) => r.serial);
      await certificates.markRevoked(q, serials, at);
      await appendEvent(
        q,
        {
          actor,
          kind: 'ssh.revoked',
          hostId: sel.hostId ?? rows[0].hostId ?? null,
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
      const revoked = await certificates.listRevoked(db);
      const newest = revoked.reduce((m, r) => (r.revokedAt > m ? r.revokedAt : m), '1970-01-01T00:00:00.000Z');
      // Serials come from one sequence in the shared store, so a serial names one certificate whichever member signed it.
      return encodeKrl({
        ca: memberCas(),
        serials: revoked.map((r) => r.serial),
        version: revoked.length + 1,
        generatedAt: new Date(newest),
        comment: 'kiln',
      });
    },
  };
}

/** The SSH service's type. */
export type SshService = ReturnType<typeof createSshService>;
