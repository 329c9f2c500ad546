import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { Rule } from './rule.js';

/** Lists every rule (small table, read on each discovery). */
export async function listRules(db: Kysely<Database>): Promise<Rule[]> {
  const rows = await db.selectFrom('rules').selectAll().orderBy('priority').orderBy('name').execute();
  return rows.map((r) => ({
    name: r.name,
    priority: Number(r.priority),
    ...(JSON.parse(r.spec) as Pick<Rule, 'match' | 'assign'>),
  }));
}

/** Inserts or replaces a rule by name. */
export async function putRule(db: Kysely<Database>, rule: Rule, at: string): Promise<void> {
  const spec = JSON.stringify({ match: rule.match, assign: rule.assign });
  const existing = await db.selectFrom('rules').select('name').where('name', '=', rule.name).executeTakeFirst();
  if (existing)
    await db
      .updateTable('rules')
      .set({ priority: rule.priority, spec, updated_at: at })
      .where('name', '=', rule.name)
      .execute();
  else
    await db
      .insertInto('rules')
      .values({ name: rule.name, priority: rule.priority, spec, created_at: at, updated_at: at })
      .execute();
}

/** Deletes a rule; returns false when there was none. */
export async function deleteRule(db: Kysely<Database>, name: string): Promise<boolean> {
  const res = await db.deleteFrom('rules').where('name', '=', name).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
