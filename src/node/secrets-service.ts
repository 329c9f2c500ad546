import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/event-log.js';
import { getSecrets, putSecrets } from './sql-secrets-store.js';
import type { Principal } from '../api/role.js';
import { hashPassword, isCryptHash } from '../trust/password/sha512-crypt.js';
import { formatSshPublicKey, parseSshPublicKey } from '../trust/ssh/ssh-public-key.js';
import { withTransaction } from '../store/transaction.js';

/** What a node may fetch about itself: a crypt(3) root password hash (or null: password login disabled) and SSH keys. */
export interface NodeSecrets {
  rootPasswordHash: string | null;
  authorizedKeys: string[];
}

/** An operator's change: a clear password is hashed here ($6$) and never stored or logged; `null` removes it. */
export interface SecretsInput {
  rootPassword?: string | null;
  rootPasswordHash?: string | null;
  authorizedKeys?: string[];
}

/** Secrets per scope: `site` for every host, `host:<id>` overriding it. */
export function createSecretsService(deps: { db: Kysely<Database>; now?: () => Date }) {
  const { db } = deps;
  const now = () => (deps.now ?? (() => new Date()))().toISOString();

  const read = (scope: string, exec: Kysely<Database> = db): Promise<NodeSecrets | null> => getSecrets(exec, scope);

  function normalise(input: SecretsInput, previous: NodeSecrets | null): NodeSecrets {
    let hash = previous?.rootPasswordHash ?? null;
    if (input.rootPassword !== undefined && input.rootPasswordHash !== undefined) {
      throw new KilnError('validation_failed', 'give either rootPassword or rootPasswordHash, not both');
    }
    if (input.rootPassword === null || input.rootPasswordHash === null) hash = null;
    if (typeof input.rootPassword === 'string') {
      if (input.rootPassword.length < 8)
        throw new KilnError('validation_failed', 'rootPassword must be at least 8 characters', {
          issues: [{ path: '/rootPassword', code: 'too_short', message: 'at least 8 characters' }],
        });
      hash = hashPassword(input.rootPassword);
    }
    if (typeof input.rootPasswordHash === 'string') {
      // Clear text is refused: only crypt(3) hashes are stored.
      if (!isCryptHash(input.rootPasswordHash))
        throw new KilnError(
          'validation_failed',
          'rootPasswordHash must be a crypt(3) hash such as $6$salt$…; send a clear password as rootPassword and Kiln hashes it',
          { issues: [{ path: '/rootPasswordHash', code: 'not_a_hash', message: 'not a crypt hash' }] },
        );
      hash = input.rootPasswordHash;
    }
    const keys =
      input.authorizedKeys === undefined
        ? (previous?.authorizedKeys ?? [])
        : input.authorizedKeys.map((k, i) => {
            try {
              return formatSshPublicKey(parseSshPublicKey(k));
            } catch (err) {
              throw new KilnError('validation_failed', `authorizedKeys[${i}]: ${(err as Error).message}`, {
                issues: [{ path: `/authorizedKeys/${i}`, code: 'bad_key', message: (err as Error).message }],
              });
            }
          });
    return { rootPasswordHash: hash, authorizedKeys: keys };
  }

  return {
    /** Sets secrets for a scope; the event records what changed, never a password or hash. */
    async set(
      scope: string,
      input: SecretsInput,
      actor: string,
      hostId: string | null = null,
    ): Promise<{ hasRootPassword: boolean; authorizedKeys: string[] }> {
      return withTransaction(db, async (trx) => {
        const prev = await read(scope, trx);
        const next = normalise(input, prev);
        await putSecrets(trx, scope, next, now(), prev !== null);
        await appendEvent(
          trx,
          {
            actor,
            kind: 'secrets.updated',
            hostId,
            subject: scope,
            message: `secrets of ${scope} updated`,
            after: { hasRootPassword: next.rootPasswordHash !== null, authorizedKeys: next.authorizedKeys.length },
          },
          now(),
        );
        return { hasRootPassword: next.rootPasswordHash !== null, authorizedKeys: next.authorizedKeys };
      });
    },
    /** A scope's secrets as shown to operators: whether a password is set, and the public keys. */
    async show(scope: string): Promise<{ hasRootPassword: boolean; authorizedKeys: string[] }> {
      const s = await read(scope);
      return { hasRootPassword: !!s?.rootPasswordHash, authorizedKeys: s?.authorizedKeys ?? [] };
    },
    /** What a host's node gets: the host's password hash, else the site's; site keys plus host keys. */
    async forHost(hostId: string): Promise<NodeSecrets> {
      const site = await read('site');
      const host = await read(`host:${hostId}`);
      return {
        rootPasswordHash: host?.rootPasswordHash ?? site?.rootPasswordHash ?? null,
        authorizedKeys: [...new Set([...(site?.authorizedKeys ?? []), ...(host?.authorizedKeys ?? [])])],
      };
    },
    async recordFetch(p: Principal & { kind: 'node' }): Promise<void> {
      await appendEvent(
        db,
        {
          actor: `node:${p.hostName}`,
          kind: 'node.secrets_fetched',
          hostId: p.hostId,
          subject: p.hostName,
          message: `${p.hostName} fetched its secrets`,
        },
        now(),
      );
    },
  };
}

/** The secrets service's type. */
export type SecretsService = ReturnType<typeof createSecretsService>;
