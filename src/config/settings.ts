import type { TObject, TSchema } from '@sinclair/typebox';
import { configSettingGroups } from './config-schema.js';

/**
 * One top-level setting of `kiln serve`, read off its TypeBox schema. The
 * flag is `--<name>`, the environment variable `KILN_<NAME>` with dashes as
 * underscores, the YAML key `<name>`. Secret settings have no flag: they come
 * from the environment or a file only.
 */
export interface SettingSpec {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'enum';
  values?: readonly string[];
  default: string | number | boolean | undefined;
  help: string;
  secret?: boolean;
  min?: number;
  max?: number;
  /** Extra check on a string value; returns the problem or null. */
  check?: (v: string) => string | null;
  /** A file or directory path: resolved against the working directory once, at load (an empty value stays unset). */
  path?: boolean;
}

/**
 * Kiln's own keywords on a setting's schema, beside JSON Schema's `default`,
 * `description`, `minimum`, `maximum` (TypeBox keeps unknown options):
 * `path` (resolved against the working directory), `secret` (no flag), and
 * `check` (a string's extra test, returning the problem or null).
 */
interface SettingKeywords {
  type?: string;
  anyOf?: ReadonlyArray<{ const?: unknown }>;
  default?: string | number | boolean;
  description?: string;
  minimum?: number;
  maximum?: number;
  path?: boolean;
  secret?: boolean;
  check?: (v: string) => string | null;
}

function specOf(name: string, schema: TSchema): SettingSpec {
  const s = schema as SettingKeywords;
  const type = s.anyOf ? 'enum' : s.type === 'integer' || s.type === 'boolean' ? s.type : 'string';
  return {
    name,
    type,
    ...(s.anyOf ? { values: s.anyOf.map((v) => String(v.const)) } : {}),
    default: s.default,
    help: s.description ?? '',
    ...(s.secret ? { secret: true } : {}),
    ...(s.minimum !== undefined ? { min: s.minimum } : {}),
    ...(s.maximum !== undefined ? { max: s.maximum } : {}),
    ...(s.check ? { check: s.check } : {}),
    ...(s.path ? { path: true } : {}),
  };
}

/** The settings of one group schema, in declaration order. */
export function settingsOf(group: TObject): SettingSpec[] {
  return Object.entries(group.properties).map(([name, schema]) => specOf(name, schema));
}

/** Every top-level setting, group by group (config-schema.ts): what flags, environment and README document. */
export const settings: readonly SettingSpec[] = Object.values(configSettingGroups).flatMap(settingsOf);
