import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/event-log.js';
import { withTransaction } from '../store/transaction.js';
import { selectRule, validateRule } from './match-rule.js';
import type { Rule } from './rule.js';
import { deleteRule, listRules, putRule } from './sql-rule-store.js';

export interface RuleServiceDeps {
  db: Kysely<Database>;
  /** True when a loaded profile has this name (a rule may only assign a profile that exists). */
  profileExists: (name: string) => boolean;
  now?: () => Date;
}

/** Discovery rules: validated when saved; each save and delete commits with its event. */
export function createRuleService(deps: RuleServiceDeps) {
  const now = () => (deps.now ?? (() => new Date()))().toISOString();
  return {
    /** Every rule in evaluation order (priority, then name); in the caller's transaction `tx` when given. */
    listRules: (tx?: Kysely<Database>): Promise<Rule[]> => listRules(tx ?? deps.db),

    /** The first rule whose conditions hold for these facts, or null; in the caller's transaction `tx` when given. */
    async selectRule(facts: Record<string, unknown>, tx?: Kysely<Database>): Promise<Rule | null> {
      return selectRule(await listRules(tx ?? deps.db), facts);
    },

    /** Creates or replaces a rule (refused with every issue when invalid), recording `rule.saved`. */
    async saveRule(rule: Rule, actor: string): Promise<Rule> {
      validateRule(rule, deps.profileExists);
      await withTransaction(deps.db, async (tx) => {
        const at = now();
        await putRule(tx, rule, at);
        await appendEvent(
          tx,
          { actor, kind: 'rule.saved', subject: rule.name, message: `rule ${rule.name} saved`, after: rule },
          at,
        );
      });
      return rule;
    },

    /** Deletes a rule with its `rule.deleted` event, or throws not_found. */
    async deleteRule(name: string, actor: string): Promise<void> {
      await withTransaction(deps.db, async (tx) => {
        const at = now();
        if (!(await deleteRule(tx, name))) throw new KilnError('not_found', `no rule named ${name}`);
        await appendEvent(tx, { actor, kind: 'rule.deleted', subject: name, message: `rule ${name} deleted` }, at);
      });
    },
  };
}

/** The rule service's type. */
export type RuleService = ReturnType<typeof createRuleService>;
