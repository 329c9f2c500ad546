import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { Type } from '@sinclair/typebox';
import { actorOf } from '../api/role.js';
import { RuleBody, type Rule } from './rule.js';
import type { RuleService } from './rule-service.js';

const RuleReply = Type.Object({
  name: Type.String(),
  priority: Type.Integer(),
  match: Type.Record(Type.String(), Type.Unknown()),
  assign: Type.Record(Type.String(), Type.Unknown()),
});

/** Discovery rules under /api/v1/rules; validated when saved. */
export const ruleRoutes: FastifyPluginAsyncTypebox<{ rules: RuleService }> = async (app, { rules }) => {
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
    async () => ({ items: await rules.listRules() }),
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
      return rules.saveRule(rule, actorOf(req.principal));
    },
  );
  app.delete(
    '/rules/:name',
    {
      config: { access: 'operator' },
      schema: { tags: ['rules'], summary: 'Delete a rule', params: Type.Object({ name: Type.String() }) },
    },
    async (req, reply) => {
      await rules.deleteRule(req.params.name, actorOf(req.principal));
      return reply.status(204).send();
    },
  );
};
