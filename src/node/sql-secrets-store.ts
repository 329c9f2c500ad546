import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** A scope's secrets as stored: a crypt(3) root password hash (or null) and SSH public keys. */
export interface StoredSecrets {
  rootPasswordHash: string | null;
  authorizedKeys: string[];
}

/** The secrets of a scope (`site`, `host:<id>`), or null when none were set. */
export async function getSecrets(db: Kysely<Database>, scope: string): Promise<StoredSecrets | null> {
  const r = await db.selectFrom('site_secrets').selectAll().where('scope', '=', scope).executeTakeFirst();
  return r
    ? { rootPasswordHash: r.root_password_hash, authorizedKeys: JSON.parse(r.authorized_keys) as string[] }
    : null;
}

/** Writes a scope's secrets: updates the row when `exists`, else inserts it. */
export async function putSecrets(
  db: Kysely<Database>,
  scope: string,
  s: StoredSecrets,
  at: string,
  exists: boolean,
): Promise<void> {
  const row = {
    root_password_hash: s.rootPasswordHash,
    authorized_keys: JSON.stringify(s.authorizedKeys),
    updated_at: at,
  };
  if (exists) await db.updateTable('site_secrets').set(row).where('scope', '=', scope).execute();
  else
    await db
      .insertInto('site_secrets')
      .values({ scope, ...row })
      .execute();
}
