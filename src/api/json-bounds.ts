import type { Ajv } from 'ajv';

/** Limits on a free-form JSON value (facts, BMC options, deploy variables): nesting, keys per object, items per array, string length. */
export interface JsonBounds {
  maxDepth: number;
  maxKeys: number;
  maxItems: number;
  maxString: number;
}

/** The schema keyword carrying `JsonBounds`; checked by the body validator (see `installBoundsKeyword`). */
export const BOUNDS_KEYWORD = 'x-kiln-bounds';

/** Schema options that bound a free-form value: `Type.Record(Type.String(), Type.Unknown(), bounded(factsBounds))`. */
export const bounded = (b: JsonBounds): Record<string, unknown> => ({ [BOUNDS_KEYWORD]: b, maxProperties: b.maxKeys });

/** What a node may report as facts: deeper, longer or wider than any real machine's inventory. */
export const factsBounds: JsonBounds = { maxDepth: 8, maxKeys: 256, maxItems: 1024, maxString: 4096 };
/** Driver options of a BMC (flat settings such as a Redfish system id or a port). */
export const optionsBounds: JsonBounds = { maxDepth: 4, maxKeys: 64, maxItems: 64, maxString: 1024 };
/** Profile variables passed to one deploy (may carry a snippet of text). */
export const variablesBounds: JsonBounds = { maxDepth: 8, maxKeys: 256, maxItems: 1024, maxString: 65_536 };

/**
 * The first problem of `value` against `b`, as a JSON pointer below the
 * value and a message, or null when it fits. Walks with an explicit stack,
 * so no input can overflow it.
 */
export function boundsProblem(value: unknown, b: JsonBounds): { path: string; message: string } | null {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: '', depth: 0 }];
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.length > b.maxString) return { path, message: `string of ${v.length} characters; at most ${b.maxString}` };
      continue;
    }
    if (!v || typeof v !== 'object') continue;
    if (depth + 1 > b.maxDepth) return { path, message: `nested deeper than ${b.maxDepth} levels` };
    if (Array.isArray(v)) {
      if (v.length > b.maxItems) return { path, message: `list of ${v.length} items; at most ${b.maxItems}` };
      v.forEach((x, i) => stack.push({ v: x, path: `${path}/${i}`, depth: depth + 1 }));
    } else {
      const keys = Object.keys(v);
      if (keys.length > b.maxKeys) return { path, message: `object with ${keys.length} keys; at most ${b.maxKeys}` };
      for (const k of keys) {
        if (k.length > b.maxString) return { path, message: `key of ${k.length} characters; at most ${b.maxString}` };
        stack.push({
          v: (v as Record<string, unknown>)[k],
          path: `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`,
          depth: depth + 1,
        });
      }
    }
  }
  return null;
}

/** Teaches an Ajv instance the bounds keyword; a failure names the place inside the value and the limit. */
export function installBoundsKeyword(ajv: Ajv): void {
  ajv.addKeyword({
    keyword: BOUNDS_KEYWORD,
    schemaType: 'object',
    errors: true,
    validate: function check(schema: JsonBounds, data: unknown): boolean {
      const p = boundsProblem(data, schema);
      if (!p) return true;
      (check as unknown as { errors: unknown[] }).errors = [
        { keyword: 'too_large', message: `${p.path || '(the value)'}: ${p.message}`, params: { path: p.path } },
      ];
      return false;
    },
  });
}
