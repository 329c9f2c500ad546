import { Type, type Static } from '@sinclair/typebox';
import type { ErrorIssue } from '../error/kiln-error.js';

const Kinds = Type.Array(Type.String({ minLength: 1, maxLength: 100, pattern: '^(\\*|[a-z0-9_.-]+)$' }), {
  minItems: 1,
  maxItems: 32,
  description: 'Event kind prefixes (host., host.state_changed) or * for every event.',
});

/** One executable hook: a program run with the event JSON on stdin. Only here, never through the API. */
const ExecHookSchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[a-z0-9][a-z0-9_-]{0,62}$',
      description: 'Name in the delivery history (exec:<name>).',
    }),
    command: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
      minItems: 1,
      maxItems: 64,
      description: 'argv: an absolute program path, then fixed arguments; no shell.',
    }),
    kinds: Kinds,
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'Only events of this host (name).' })),
    timeoutSeconds: Type.Integer({
      minimum: 1,
      maximum: 3600,
      default: 30,
      description: 'The program is killed (SIGKILL) past this; the attempt fails.',
    }),
  },
  { additionalProperties: false },
);

/** Schema of the `hooks:` section of the controller config (docs/hooks.md); every key has a default. */
export const HookConfigSchema = Type.Object({
  enabled: Type.Boolean({ default: true, description: 'Deliver hooks from this controller.' }),
  pollMs: Type.Integer({
    minimum: 50,
    maximum: 60_000,
    default: 500,
    description: 'How often new events are queued and due deliveries sent (milliseconds).',
  }),
  timeoutSeconds: Type.Integer({
    minimum: 1,
    maximum: 300,
    default: 10,
    description: 'An HTTP delivery that has no answer in this time fails (and is retried).',
  }),
  concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'Deliveries in flight at once.' }),
  retry: Type.Object(
    {
      attempts: Type.Integer({
        minimum: 1,
        maximum: 100,
        default: 10,
        description: 'Attempts before a delivery is dead.',
      }),
      baseSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 5, description: 'First retry delay.' }),
      maxSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 3600, description: 'Longest retry delay.' }),
    },
    { default: {} },
  ),
  history: Type.Object(
    {
      days: Type.Integer({ minimum: 1, maximum: 3650, default: 7, description: 'Finished deliveries kept this long.' }),
      maxPerHook: Type.Integer({
        minimum: 10,
        maximum: 1_000_000,
        default: 1000,
        description: 'Finished deliveries kept per hook.',
      }),
    },
    { default: {} },
  ),
  exec: Type.Array(ExecHookSchema, { maxItems: 64, default: [], description: 'Executable hooks.' }),
});

/** The hooks config slice, as validated by `HookConfigSchema`. */
export type HookConfig = Static<typeof HookConfigSchema>;

/** One executable hook from the config. */
export type ExecHookConfig = HookConfig['exec'][number];

/** The defaults of every hooks setting (what the schema fills in). */
export const defaultHookConfig: HookConfig = {
  enabled: true,
  pollMs: 500,
  timeoutSeconds: 10,
  concurrency: 8,
  retry: { attempts: 10, baseSeconds: 5, maxSeconds: 3600 },
  history: { days: 7, maxPerHook: 1000 },
  exec: [],
};

/**
 * What the schema cannot say about executable hooks: each program is an
 * absolute path (no PATH lookup, no shell), and names are unique.
 */
export function checkExecHooks(c: HookConfig): ErrorIssue[] {
  const issues: ErrorIssue[] = [];
  const seen = new Set<string>();
  c.exec.forEach((h, i) => {
    if (!h.command[0].startsWith('/'))
      issues.push({
        path: `hooks.exec.${i}.command.0`,
        code: 'bad_value',
        message: `hooks.exec[${i}].command[0] must be an absolute program path (no shell, no PATH lookup), got ${JSON.stringify(h.command[0])}`,
      });
    if (seen.has(h.name))
      issues.push({
        path: `hooks.exec.${i}.name`,
        code: 'bad_value',
        message: `hooks.exec[${i}].name ${h.name} is used twice; give each executable hook its own name`,
      });
    seen.add(h.name);
  });
  return issues;
}
