import { randomUUID } from 'node:crypto';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { ApiTokensTable } from './auth-tables.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/event-log.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import type { Principal, Role } from '../api/role.js';
import { createApiToken, hashSecret } from '../trust/credential/node-credential.js';
import { withTransaction } from '../store/transaction.js';
import { isPostgres } from '../store/database.js';
import { createPrincipalCache, LAST_USED_EVERY_MS } from './principal-cache.js';

/** An API token as listed: never the token itself, only its id, name, role and dates. */
export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

type TokenRow = Selectable<ApiTokensTable>;

const toRecord = (r: TokenRow): TokenRecord => ({
  id: r.id,
  name: r.name,
  role: r.role,
  createdAt: r.created_at,
  createdBy: r.created_by,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

/** The PostgreSQL NOTIFY channel a token or user change signals: other controllers forget their principals (auth-change-notify.ts). */
export const AUTH_CHANNEL = 'kiln_auth';

/**
 * On PostgreSQL, tells every listening controller that tokens or users changed, when (and only if) the caller's
 * transaction commits. SQLite: nothing (one controller, which forgets its own principals after the commit).
 */
export async function notifyAuthChanged(trx: Kysely<Database>): Promise<void> {
  if (isPostgres(trx)) await sql`select pg_notify(${AUTH_CHANNEL}, '')`.execute(trx);
}

/**
 * API tokens: created (shown once), listed, revoked, and checked on every request. Resolved principals are
 * cached (`principals`, see principal-cache.ts); on PostgreSQL the cache stays off until the root connects its
 * listener (`principals.setLive`).
 */
export function createTokenService(deps: {
  db: Kysely<Database>;
  log?: Logger;
  now?: () => Date;
  /** Longest a resolved principal is served from memory (ms). @default 30000 */
  cacheMs?: number;
}) {
  const { db } = deps;
  const log = deps.log ?? silentLogger;
  const now = () => (deps.now ?? (() => new Date()))();
  const principals = createPrincipalCache({
    now: () => now().getTime(),
    maxAgeMs: deps.cacheMs,
    live: !isPostgres(db),
  });

  /** Creates a token; with `userId` it is a login session of that user (role read from the user at each request), recorded as `user.login`. */
  async function create(
    input: { name: string; role: Role; expiresAt?: string | null; userId?: string },
    actor: string,
  ): Promise<{ token: string; record: TokenRecord }> {
    const { secret: token, hash } = createApiToken();
    const at = now().toISOString();
    const row: TokenRow = {
      id: randomUUID(),
      name: input.name,
      role: input.role,
      hash,
      created_at: at,
      created_by: actor,
      expires_at: input.expiresAt ?? null,
      revoked_at: null,
      last_used_at: null,
      user_id: input.userId ?? null,
    };
    await withTransaction(db, async (trx) => {
      await trx.insertInto('api_tokens').values(row).execute();
      await appendEvent(
        trx,
        input.userId
          ? {
              actor,
              kind: 'user.login',
              subject: input.name,
              message: `${actor} logged in; the session expires at ${input.expiresAt ?? 'never'}`,
              after: toRecord(row),
            }
          : {
              actor,
              kind: 'token.created',
              subject: input.name,
              message: `API token ${input.name} (${input.role}) created`,
              after: toRecord(row),
            },
        at,
      );
    });
    return { token, record: toRecord(row) };
  }

  return {
    create,
    async list(): Promise<TokenRecord[]> {
      return (await db.selectFrom('api_tokens').selectAll().orderBy('created_at').execute()).map(toRecord);
    },
    /** The principal cache: the user service and the root's listener tell it of changes. */
    principals,
    async revoke(id: string, actor: string): Promise<TokenRecord> {
      try {
        return await withTransaction(db, async (trx) => {
          const row = await trx
            .selectFrom('api_tokens')
            .selectAll()
            .where((eb) => eb.or([eb('id', '=', id), eb('name', '=', id)]))
            .executeTakeFirst();
          if (!row) throw new KilnError('not_found', `no API token with id or name "${id}"`);
          const at = now().toISOString();
          await trx.updateTable('api_tokens').set({ revoked_at: at }).where('id', '=', row.id).execute();
          await notifyAuthChanged(trx);
          await appendEvent(
            trx,
            { actor, kind: 'token.revoked', subject: row.name, message: `API token ${row.name} revoked` },
            at,
          );
          return toRecord({ ...row, revoked_at: at });
        });
      } finally {
        // After the commit: a lookup that read before it is not kept (principal-cache.ts).
        principals.changed();
      }
    },
    /**
     * Ends the login session whose secret is `token` (`POST /api/v1/logout`,
     * the web UI's logout), recorded as `user.logout`; an API token is not a
     * session and is refused (revoke it with `kiln token revoke`).
     */
    async endSession(token: string, actor: string): Promise<void> {
      try {
        await withTransaction(db, async (trx) => {
          const row = await trx
            .selectFrom('api_tokens')
            .selectAll()
            .where('hash', '=', hashSecret(token))
            .executeTakeFirst();
          if (!row?.user_id)
            throw new KilnError(
              'bad_request',
              'this credential is an API token, not a login session; see `kiln token revoke`',
            );
          if (row.revoked_at) return;
          const at = now().toISOString();
          await trx.updateTable('api_tokens').set({ revoked_at: at }).where('id', '=', row.id).execute();
          await notifyAuthChanged(trx);
          await appendEvent(trx, { actor, kind: 'user.logout', subject: row.name, message: `${actor} logged out` }, at);
        });
      } finally {
        principals.changed();
      }
    },
    /**
     * Resolves a bearer token to its principal, or throws `unauthenticated` (unknown, revoked or expired). Called
     * on every API request: a cached principal answers without reading the store; failures are never cached.
     */
    async authenticate(token: string): Promise<Principal> {
      const hash = hashSecret(token);
      const cached = principals.get(hash);
      if (cached) return cached;
      const since = principals.begin();
      const row = await db.selectFrom('api_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
      const at = now();
      if (!row)
        throw new KilnError(
          'unauthenticated',
          'the bearer token is not known; create one with `kiln token create` or check KILN_TOKEN',
        );
      if (row.revoked_at)
        throw new KilnError(
          'unauthenticated',
          `the bearer token ${row.name} was revoked at ${row.revoked_at}; ask an admin for a new one`,
        );
      if (row.expires_at && row.expires_at <= at.toISOString()) {
        throw new KilnError(
          'unauthenticated',
          row.user_id
            ? `the login session ${row.name} expired at ${row.expires_at}; log in again (\`kiln login\`)`
            : `the bearer token ${row.name} expired at ${row.expires_at}; ask an admin for a new one`,
        );
      }
      // A login token (user_id set) carries the user's current role, read at every request.
      let user: { id: string; name: string; role: Role; disabled_at: string | null } | undefined;
      if (row.user_id) {
        user = await db
          .selectFrom('users')
          .select(['id', 'name', 'role', 'disabled_at'])
          .where('id', '=', row.user_id)
          .executeTakeFirst();
        if (!user) throw new KilnError('unauthenticated', `the user of login session ${row.name} was deleted`);
        if (user.disabled_at)
          throw new KilnError(
            'unauthenticated',
            `the user ${user.name} was disabled at ${user.disabled_at}; ask an admin to enable it`,
          );
      }
      // last_used_at is advisory: update at most once a minute to keep reads cheap.
      let lastUsedMs = row.last_used_at ? Date.parse(row.last_used_at) : null;
      if (lastUsedMs === null || at.getTime() - lastUsedMs > LAST_USED_EVERY_MS) {
        await db.updateTable('api_tokens').set({ last_used_at: at.toISOString() }).where('id', '=', row.id).execute();
        lastUsedMs = at.getTime();
      }
      const principal: Principal = user
        ? { kind: 'user', id: user.id, name: user.name, role: user.role }
        : { kind: 'token', id: row.id, name: row.name, role: row.role };
      const expiresAtMs = row.expires_at ? Date.parse(row.expires_at) : null;
      // An expiry that does not parse is checked against the store every time (the string comparison above).
      if (!Number.isNaN(expiresAtMs) && !Number.isNaN(lastUsedMs))
        principals.put(hash, since, { principal, expiresAtMs, lastUsedMs });
      return principal;
    },
    /**
     * On first start with no token at all, creates an admin token, writes it to
     * `file` (mode 0600) and returns it so `main` can print it once.
     */
    async ensureFirstAdmin(file: string): Promise<string | null> {
      const any = await db.selectFrom('api_tokens').select('id').limit(1).executeTakeFirst();
      if (any) return null;
      const { token } = await create({ name: 'initial-admin', role: 'admin' }, 'system');
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, `${token}\n`, { mode: 0o600 });
      log.info({ file }, 'created the initial admin token');
      return token;
    },
  };
}

/** The token service's type. */
export type TokenService = ReturnType<typeof createTokenService>;
