import { createHash, createHmac } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { KilnError } from '../error/kiln-error.js';
import type { Host } from '../inventory/host.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import { getCurrentDeployment, type Deployment } from './deployment.js';

/**
 * What templates get in place of the token (through `kiln.installFilesUrl`);
 * replaced by the real token only when a boot script or install file is
 * served, so stored deployments, API replies and viewers never hold it.
 * Made of characters no template filter changes.
 */
export const INSTALL_TOKEN_PLACEHOLDER = 'kit_INSTALLTOKEN';

/** Default life of an install token when the install does not end first: 24 hours. */
export const DEFAULT_INSTALL_TOKEN_TTL_MS = 24 * 3600_000;

export interface InstallTokenDeps {
  db: Kysely<Database>;
  inventory: InventoryService;
  /** 32 secret bytes; tokens are HMAC-SHA256(key, deployment id). Shared by every controller on one store. */
  key: Uint8Array;
  ttlMs?: number;
  now?: () => Date;
  /** Addresses of the active bound leases Kiln holds for these MACs (the boot domain's durable lease table, every controller's); with `ip`, just `[ip]` when `ip` is one of them. */
  leasedAddresses: (macs: string[], ip?: string) => Promise<string[]>;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Per-deployment install-file URL tokens (see docs/security.md, "What each
 * installer can present"). A token is valid while its deployment is the
 * host's current one, still `deploying`, the host is `deploying`, and its TTL
 * has not passed; when Kiln holds a DHCP lease for one of the host's MACs, only
 * from that leased address.
 */
export function createInstallTokens(deps: InstallTokenDeps) {
  const now = () => (deps.now ?? (() => new Date()))();
  const tokenFor = (deploymentId: string) =>
    `kit_${createHmac('sha256', deps.key).update(`kiln install token\0${deploymentId}`).digest('base64url')}`;

  /** Puts the deployment's token where a template wrote `kiln.installFilesUrl`. */
  function fill(text: string, deploymentId: string): string {
    return text.includes(INSTALL_TOKEN_PLACEHOLDER)
      ? text.replaceAll(INSTALL_TOKEN_PLACEHOLDER, tokenFor(deploymentId))
      : text;
  }

  async function refuse(host: Host | null, ip: string, why: string): Promise<never> {
    if (host) {
      await deps.inventory.recordEvent({
        actor: `install@${ip}`,
        kind: 'node.install_token_refused',
        hostId: host.id,
        subject: host.name,
        message: `install token of ${host.name} refused from ${ip}: ${why}`,
      });
    }
    throw new KilnError(
      'install_token_invalid',
      "this install-file URL is not valid (unknown, expired, its deployment ended, or fetched from an address that is not the host's lease); deploy the host again for a new one",
    );
  }

  return {
    /** Records the token of a new deployment (only its hash is stored), in the deploy's transaction `tx` when given. Called once per deploy. */
    async issue(d: Pick<Deployment, 'id' | 'hostId'>, tx?: Kysely<Database>): Promise<void> {
      const at = now();
      const db = tx ?? deps.db;
      await db
        .insertInto('install_tokens')
        .values({
          token_hash: hashToken(tokenFor(d.id)),
          deployment_id: d.id,
          host_id: d.hostId,
          created_at: at.toISOString(),
          expires_at: new Date(at.getTime() + (deps.ttlMs ?? DEFAULT_INSTALL_TOKEN_TTL_MS)).toISOString(),
        })
        .execute();
      await db
        .deleteFrom('install_tokens')
        .where('host_id', '=', d.hostId)
        .where('deployment_id', '!=', d.id)
        .execute();
    },

    fill,

    /** The deployment with its boot spec filled in, for the per-host boot script. */
    fillDeployment<D extends Pick<Deployment, 'id' | 'bootSpec'>>(d: D): D {
      return {
        ...d,
        bootSpec: {
          ...d.bootSpec,
          cmdline: fill(d.bootSpec.cmdline, d.id),
          kernel: fill(d.bootSpec.kernel, d.id),
          initrd: d.bootSpec.initrd.map((u) => fill(u, d.id)),
        },
      };
    },

    /** Resolves a presented token from `ip` to its host and deployment, or refuses with `install_token_invalid` (recorded as an event when the token was once valid). */
    async resolve(token: string, ip: string): Promise<{ host: Host; deployment: Deployment }> {
      const row = await deps.db
        .selectFrom('install_tokens')
        .selectAll()
        .where('token_hash', '=', hashToken(token))
        .executeTakeFirst();
      if (!row) return refuse(null, ip, 'unknown token');
      const host = await deps.inventory.getHost(row.host_id).catch(() => null);
      if (!host) return refuse(null, ip, 'host gone');
      if (Date.parse(row.expires_at) <= now().getTime()) return refuse(host, ip, `expired at ${row.expires_at}`);
      const d = await getCurrentDeployment(deps.db, host.id);
      if (!d || d.id !== row.deployment_id || d.status !== 'deploying' || host.state !== 'deploying') {
        return refuse(
          host,
          ip,
          `its deployment ended (host ${host.state}, deployment ${d && d.id === row.deployment_id ? d.status : 'superseded'})`,
        );
      }
      const leased = await deps.leasedAddresses(
        host.nics.map((n) => n.mac),
        ip,
      );
      if (leased.length > 0 && !leased.includes(ip))
        return refuse(host, ip, `Kiln leased ${host.name} ${leased.join(', ')}`);
      return { host, deployment: d };
    },

    /** The token of a deployment (tests and the leak scan only; never logged or returned by the API). */
    tokenFor,
  };
}

/** The install-token service's type. */
export type InstallTokens = ReturnType<typeof createInstallTokens>;
