import type { TSchema } from '@sinclair/typebox';
import type { ErrorIssue } from '../error/kiln-error.js';

/** The JSON Schema keywords the walk reads; TypeBox schemas carry them as plain fields. */
interface Shape {
  type?: unknown;
  properties?: Record<string, TSchema>;
  additionalProperties?: unknown;
  items?: TSchema;
}

const isMapping = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Edit distance of two short keys, case-insensitive, a swap of neighbours counting one (optimal string alignment). */
function distance(x: string, y: string): number {
  const [a, b] = [x.toLowerCase(), y.toLowerCase()];
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i + j));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The known key closest to `key` when it is a plausible typo (at most a third of its letters off), else undefined. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/**
 * Every key of `value` that `schema` does not declare, as `unknown_setting`
 * issues with the dotted path (`dhcp.subnets.0.atached`) and the closest
 * known key. Objects that allow additional properties (`site:`) have none.
 * `deep: false` looks at the top level only.
 */
export function unknownKeys(
  schema: TSchema,
  value: unknown,
  at: { path: string; deep: boolean; hint: (path: string, known: readonly string[]) => string },
): ErrorIssue[] {
  const s = schema as Shape;
  if (Array.isArray(value) && s.items)
    return at.deep ? value.flatMap((v, i) => unknownKeys(s.items!, v, { ...at, path: `${at.path}.${i}` })) : [];
  if (!isMapping(value) || !s.properties) return [];
  const known = Object.keys(s.properties);
  const closed = s.additionalProperties === false || s.additionalProperties === undefined;
  return Object.entries(value).flatMap(([k, v]): ErrorIssue[] => {
    const path = at.path ? `${at.path}.${k}` : k;
    const inner = s.properties![k];
    if (inner) return at.deep ? unknownKeys(inner, v, { ...at, path }) : [];
    if (!closed) return [];
    const near = closestKey(k, known);
    return [
      {
        path,
        code: 'unknown_setting',
        message: `config file: unknown ${!at.path && isMapping(v) ? 'section' : at.path ? 'key' : 'setting'} "${path}"${near ? ` (did you mean "${at.path ? `${at.path}.` : ''}${near}"?)` : ''}; ${at.hint(at.path, known)}`,
      },
    ];
  });
}
