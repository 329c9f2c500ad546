import { randomBytes, randomUUID } from 'node:crypto';
import { hash, verify, type Options as ArgonOptions } from '@node-rs/argon2';
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { UsersTable } from './auth-tables.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/event-log.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { isUniqueViolation } from '../store/unique-violation.js';
import type { Principal, Role } from '../api/role.js';
import { roleAllows } from '../api/role.js';
import { notifyAuthChanged, type TokenService } from './token-service.js';
import { withTransaction } from '../store/transaction.js';

/** An API user as listed: never the password or its hash. */
export interface UserRecord {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  createdBy: string;
  disabledAt: string | null;
}

/** Login session lifetimes, in hours. */
export interface LoginConfig {
  /** @default 12 */
  defaultHours: number;
  /** Longest session a login may ask for. @default 168 */
  maxHours: number;
}

/** Shortest password accepted (the API schema enforces the same). */
export const minPasswordLength = 12;

/** Default login session lifetimes. */
export const defaultLoginConfig: LoginConfig = { defaultHours: 12, maxHours: 168 };

// Argon2id with OWASP's first recommended setting (19 MiB, 2 passes, 1 lane).
// The package's `Algorithm` const enum is empty at run time, so the value is
// spelled out: 2 = Argon2id.
const argonDefaults: ArgonOptions = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

type UserRow = Selectable<UsersTable>;

const toRecord = (r: UserRow): UserRecord => ({
  id: r.id,
  name: r.name,
  role: r.role,
  createdAt: r.created_at,
  createdBy: r.created_by,
  disabledAt: r.disabled_at,
});

const wrongCredentials = () => new KilnError('unauthenticated', 'wrong user name or password');

/** A change to a user; `password` with `oldPassword` when the user changes their own. */
export interface UserChange {
  role?: Role;
  disabled?: boolean;
  password?: string;
  oldPassword?: string;
}

/**
 * API users: created by an admin with a password (argon2id), listed, changed,
 * deleted, and logged in. A login issues a short-lived API token tied to the
 * user (see `TokenService.authenticate`), so every other route is unchanged.
 */
export function createUserService(deps: {
  db: Kysely<Database>;
  tokens: TokenService;
  log?: Logger;
  now?: () => Date;
  login?: Partial<LoginConfig>;
  argon?: ArgonOptions;
}) {
  const { db, tokens } = deps;
  const log = deps.log ?? silentLogger;
  const now = () => (deps.now ?? (() => new Date()))();
  const login: LoginConfig = { ...defaultLoginConfig, ...deps.login };
  const argon = { ...argonDefaults, ...deps.argon };
  const hashPassword = (p: string) => hash(p, argon);
  // Unknown users are verified against this hash so that the reply takes as
  // long as for a known user with a wrong password. Made at start, not at the
  // first unknown name, so the first probe is not slower either.
  const dummyHash = hashPassword(randomBytes(24).toString('base64url'));
  dummyHash.catch(() => {});

  function checkPassword(p: string): void {
    if (p.length < minPasswordLength) {
      throw new KilnError('validation_failed', `the password must have at least ${minPasswordLength} characters`, {
        issues: [
          { path: 'body/password', code: 'minLength', message: `must have at least ${minPasswordLength} characters` },
        ],
      });
    }
  }

  async function getRow(name: string, q: Kysely<Database> = db): Promise<UserRow> {
    const row = await q.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw new KilnError('not_found', `no user named "${name}"; see \`kiln user list\``);
    return row;
  }

  async function revokeSessions(q: Kysely<Database>, userId: string, at: string): Promise<number> {
    const res = await q
      .updateTable('api_tokens')
      .set({ revoked_at: at })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  return {
    /** Session lifetimes this service grants. */
    loginConfig: login,

    /** Creates a user; the clear-text password is hashed here and kept nowhere else. */
    async create(input: { name: string; role: Role; password: string }, actor: string): Promise<UserRecord> {
      checkPassword(input.password);
      const at = now().toISOString();
      const row: UserRow = {
        id: randomUUID(),
        name: input.name,
        role: input.role,
        password_hash: await hashPassword(input.password),
        created_at: at,
        created_by: actor,
        disabled_at: null,
      };
      try {
        await withTransaction(db, async (trx) => {
          await trx.insertInto('users').values(row).execute();
          await appendEvent(
            trx,
            {
              actor,
              kind: 'user.created',
              subject: row.name,
              message: `user ${row.name} (${row.role}) created`,
              after: toRecord(row),
            },
            at,
          );
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new KilnError('conflict', `a user named "${input.name}" already exists`);
        throw err;
      }
      log.info({ user: row.name, role: row.role, actor }, 'user created');
      return toRecord(row);
    },

    /** Every user, by name. */
    async list(): Promise<UserRecord[]> {
      return (await db.selectFrom('users').selectAll().orderBy('name').execute()).map(toRecord);
    },

    /**
     * Changes a user. Role and disabled need an admin. A password change by
     * the user themself needs the old password (a stolen session alone cannot
     * take the account); an admin who is someone else may reset it without.
     * Disabling or a password change revokes every login session of the
     * user, the caller's own included: the next request needs a new login.
     */
    async update(name: string, change: UserChange, caller: Principal, actor: string): Promise<UserRecord> {
      const self = caller.kind === 'user' && caller.name === name;
      const admin = caller.kind !== 'node' && roleAllows(caller.role, 'admin');
      if ((change.role !== undefined || change.disabled !== undefined) && !admin) {
        throw new KilnError('forbidden', 'changing the role or disabled state of a user needs the admin role');
      }
      if (change.password === undefined && change.oldPassword !== undefined) {
        throw new KilnError('validation_failed', 'oldPassword is only used together with password', {
          issues: [{ path: 'body/oldPassword', code: 'unexpected', message: 'send password too, or drop oldPassword' }],
        });
      }
      if (change.password !== undefined) {
        checkPassword(change.password);
        if (!self && !admin)
          throw new KilnError('forbidden', `only ${name} themself or an admin can change this password`);
      }
      const current = await getRow(name);
      if (change.password !== undefined && self) {
        if (change.oldPassword === undefined)
          throw new KilnError('forbidden', 'to change your own password, send your current one as oldPassword');
        if (!(await verify(current.password_hash, change.oldPassword)))
          throw new KilnError('forbidden', 'the old password is wrong');
      }
      const newHash = change.password !== undefined ? await hashPassword(change.password) : undefined;
      const at = now().toISOString();
      try {
        return await withTransaction(db, async (trx) => {
          const row = await getRow(name, trx);
          const set: Partial<UserRow> = {};
          if (change.role !== undefined) set.role = change.role;
          if (change.disabled !== undefined) set.disabled_at = change.disabled ? (row.disabled_at ?? at) : null;
          if (newHash !== undefined) set.password_hash = newHash;
          const next: UserRow = { ...row, ...set };
          if (Object.keys(set).length) await trx.updateTable('users').set(set).where('id', '=', row.id).execute();
          let revoked = 0;
          if (change.disabled === true || newHash !== undefined) {
            revoked = await revokeSessions(trx, row.id, at);
          }
          // A login session carries its user's role and disabled state: every controller forgets its principals.
          await notifyAuthChanged(trx);
          const what =
            [
              change.role !== undefined && change.role !== row.role ? `role ${row.role} → ${change.role}` : null,
              change.disabled !== undefined ? (change.disabled ? 'disabled' : 'enabled') : null,
              newHash !== undefined ? (self ? 'password changed' : 'password reset') : null,
            ]
              .filter(Boolean)
              .join(', ') || 'no change';
          await appendEvent(
            trx,
            {
              actor,
              kind:
                newHash !== undefined && change.role === undefined && change.disabled === undefined
                  ? 'user.password_changed'
                  : 'user.updated',
              subject: row.name,
              message: `user ${row.name}: ${what}${revoked ? `; ${revoked} login session(s) revoked` : ''}`,
              before: toRecord(row),
              after: toRecord(next),
            },
            at,
          );
          return toRecord(next);
        });
      } finally {
        // After the commit: a lookup that read before it is not kept (principal-cache.ts).
        tokens.principals.changed();
      }
    },

    /** Deletes a user and revokes every login session of theirs. */
    async delete(name: string, actor: string): Promise<UserRecord> {
      const at = now().toISOString();
      const rec = await withTransaction(db, async (trx) => {
        const row = await getRow(name, trx);
        const revoked = await revokeSessions(trx, row.id, at);
        await trx.deleteFrom('users').where('id', '=', row.id).execute();
        await notifyAuthChanged(trx);
        await appendEvent(
          trx,
          {
            actor,
            kind: 'user.deleted',
            subject: row.name,
            message: `user ${row.name} deleted; ${revoked} login session(s) revoked`,
            before: toRecord(row),
          },
          at,
        );
        return toRecord(row);
      }).finally(() => tokens.principals.changed());
      log.info({ user: name, actor }, 'user deleted');
      return rec;
    },

    /**
     * Checks a name and password and issues a login session token expiring
     * after `expiresInHours` (default and maximum from `LoginConfig`). Unknown
     * users, wrong passwords and disabled users all answer `unauthenticated`;
     * the message says "disabled" only once the password was right.
     */
    async login(
      input: { name: string; password: string; expiresInHours?: number },
      source: string,
    ): Promise<{ token: string; expiresAt: string; user: UserRecord }> {
      const hours = input.expiresInHours ?? login.defaultHours;
      if (!(hours > 0 && hours <= login.maxHours)) {
        throw new KilnError('validation_failed', `expiresInHours must be between 1 and ${login.maxHours}`, {
          issues: [
            { path: 'body/expiresInHours', code: 'maximum', message: `must be between 1 and ${login.maxHours}` },
          ],
        });
      }
      const row = await db.selectFrom('users').selectAll().where('name', '=', input.name).executeTakeFirst();
      const ok = await verify(row?.password_hash ?? (await dummyHash), input.password).catch(() => false);
      if (!row || !ok) {
        // The name is logged only when it is a known user: an unknown "name" is
        // sometimes a password typed into the wrong field.
        log.info(
          { ...(row ? { user: row.name } : {}), source, knownUser: Boolean(row) },
          'login refused: wrong user name or password',
        );
        throw wrongCredentials();
      }
      if (row.disabled_at) {
        log.info({ user: row.name, source }, 'login refused: user disabled');
        throw new KilnError('unauthenticated', `the user ${row.name} is disabled; ask an admin to enable it`);
      }
      const t = now();
      const expiresAt = new Date(t.getTime() + hours * 3_600_000).toISOString();
      const { token } = await tokens.create(
        { name: `login:${row.name}`, role: row.role, expiresAt, userId: row.id },
        `user:${row.name}`,
      );
      log.info({ user: row.name, source, expiresAt }, 'user logged in');
      return { token, expiresAt, user: toRecord(row) };
    },
  };
}

/** The user service's type. */
export type UserService = ReturnType<typeof createUserService>;
