import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import type { Kysely } from 'kysely';
import { actorOf } from '../auth/role.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/sql-event-store.js';
import { validateRule } from './match-rule.js';
import { RuleBody, type Rule } from './rule.js';
import { deleteRule, listRules, putRule } from './sql-rule-store.js';

const RuleReply = Type.Object({
  name: Type.String(),
  priority: Type.Integer(),
  match: Type.Record(Type.String(), Type.Unknown()),
  assign: Type.Record(Type.String(), Type.Unknown()),
});

/** Discovery rules under /api/v1/rules; validated when saved. */
export const ruleRoutes: FastifyPluginAsyncTypebox<{
  db: Kysely<any>;
  profileExists: (name: string) => boolean;
}> = async (app, { db, profileExists }) => {
  app.get(
    '/rules',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['rules'],
        summary: 'List discovery rules in evaluation order',
        response: { 200: Type.Object({ items: Type.Array(RuleReply) }) },
      },
    },
    async () => ({ items: await listRules(db) }),
  );
  app.put(
    '/rules/:name',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['rules'],
        summary: 'Create or replace a rule (validated now, not at boot)',
        params: Type.Object({ name: Type.String() }),
        body: RuleBody,
        response: { 200: RuleReply },
      },
    },
    async (req) => {
      const body = req.body;
      const rule: Rule = {
        name: req.params.name,
        priority: body.priority ?? 100,
        match: body.match,
        assign: body.assign,
      };
      validateRule(rule, profileExists);
      await db.transaction().execute(async (trx) => {
        const at = new Date().toISOString();
        await putRule(trx, rule, at);
        await appendEvent(
          trx,
          {
            actor: actorOf(req.principal),
            kind: 'rule.saved',
            subject: rule.name,
            message: `rule ${rule.name} saved`,
            after: rule,
          },
          at,
        );
      });
      return rule;
    },
  );
  app.delete(
    '/rules/:name',
    {
      config: { access: 'operator' },
      schema: { tags: ['rules'], summary: 'Delete a rule', params: Type.Object({ name: Type.String() }) },
    },
    async (req, reply) => {
      const name = req.params.name;
      if (!(await deleteRule(db, name))) throw new KilnError('not_found', `no rule named ${name}`);
      await appendEvent(
        db,
        { actor: actorOf(req.principal), kind: 'rule.deleted', subject: name, message: `rule ${name} deleted` },
        new Date().toISOString(),
      );
      return reply.status(204).send();
    },
  );
};
