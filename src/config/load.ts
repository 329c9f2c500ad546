import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import { ConfigFileSchema, configSections } from './config-schema.js';
import { settings, type SettingSpec } from './settings.js';
import { envName } from '../startup/setting-name.js';
import { unknownKeys } from './unknown-keys.js';

/**
 * The first stage of loading: the validated, frozen top-level settings of
 * `kiln serve`, keyed by setting name, and the nested YAML sections (dhcp,
 * tftp, site) as given. `parseConfig` (parse-config.ts) turns it into the
 * typed `KilnConfig` that main reads.
 */
export interface Config {
  values: Readonly<Record<string, string | number | boolean | undefined>>;
  sections: Readonly<Record<string, unknown>>;
  /** Where each value came from, for `kiln serve --print-config`. */
  sources: Readonly<Record<string, 'flag' | 'env' | 'file' | 'default'>>;
}

/** Inputs to the loader. Only `main` reads argv and process.env; it passes them here. */
export interface ConfigInput {
  /** Flags as parsed by the CLI, keyed by setting name (kebab-case). */
  flags: Record<string, unknown>;
  env: Record<string, string | undefined>;
  /** Path of the YAML config file, if any (from --config or KILN_CONFIG). */
  file?: string | undefined;
  readFile?: (path: string) => string;
  /** The directory relative paths are resolved against (default: the process's working directory). */
  cwd?: string;
}

/** Path settings inside nested sections (`section.key`), resolved like the top-level path settings. */
const sectionPaths: ReadonlyArray<readonly [string, string]> = [['tftp', 'root']];

function coerce(
  spec: SettingSpec,
  raw: unknown,
  where: string,
): { value?: string | number | boolean; issue?: ErrorIssue } {
  const bad = (message: string) => ({
    issue: { path: spec.name, code: 'bad_value', message: `${where}=${JSON.stringify(raw)}: ${message}` },
  });
  if (spec.type === 'integer') {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isInteger(n)) return bad('expected a whole number');
    if (spec.min !== undefined && n < spec.min) return bad(`must be at least ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) return bad(`must be at most ${spec.max}`);
    return { value: n };
  }
  if (spec.type === 'boolean') {
    if (typeof raw === 'boolean') return { value: raw };
    if (typeof raw === 'string' && /^(true|1|yes|on)$/i.test(raw)) return { value: true };
    if (typeof raw === 'string' && /^(false|0|no|off)$/i.test(raw)) return { value: false };
    return bad('expected true or false');
  }
  if (typeof raw !== 'string' && typeof raw !== 'number') return bad('expected a string');
  const s = String(raw);
  if (spec.type === 'enum' && !spec.values!.includes(s)) return bad(`expected one of ${spec.values!.join(', ')}`);
  const problem = spec.check?.(s);
  if (problem) return bad(problem);
  return { value: s };
}

/**
 * Merges flags, then KILN_* environment, then the YAML file, then defaults;
 * validates every value and throws one `config_invalid` error listing every
 * bad setting with how to fix it.
 */
export function loadConfig(input: ConfigInput): Config {
  const read = input.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const cwd = input.cwd ?? process.cwd();
  let file: Record<string, unknown> = {};
  if (input.file) {
    let text: string;
    try {
      text = read(input.file);
    } catch (err) {
      throw new KilnError('config_invalid', `cannot read config file ${input.file}: ${(err as Error).message}`);
    }
    try {
      file = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (err) {
      throw new KilnError('config_invalid', `config file ${input.file} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof file !== 'object' || Array.isArray(file))
      throw new KilnError('config_invalid', `config file ${input.file} must hold a YAML mapping of setting: value`);
  }
  const sectionNames = new Set(Object.keys(configSections));
  // Top-level keys only: each section's own keys are checked by parseConfig, against that section's schema.
  const issues: ErrorIssue[] = unknownKeys(ConfigFileSchema, file, {
    path: '',
    deep: false,
    hint: () => 'see the configuration reference in README.md',
  });
  const values: Record<string, string | number | boolean | undefined> = {};
  const sources: Record<string, 'flag' | 'env' | 'file' | 'default'> = {};
  for (const spec of settings) {
    const fromFlag = input.flags[spec.name];
    const fromEnv = input.env[envName(spec.name)];
    let raw: unknown;
    let src: 'flag' | 'env' | 'file' | 'default';
    if (fromFlag !== undefined && !spec.secret) {
      raw = fromFlag;
      src = 'flag';
    } else if (fromEnv !== undefined && fromEnv !== '') {
      raw = fromEnv;
      src = 'env';
    } else if (file[spec.name] !== undefined) {
      raw = file[spec.name];
      src = 'file';
    } else {
      values[spec.name] = spec.path && typeof spec.default === 'string' ? resolve(cwd, spec.default) : spec.default;
      sources[spec.name] = 'default';
      continue;
    }
    const where =
      src === 'flag'
        ? `flag --${spec.name}`
        : src === 'env'
          ? `environment ${envName(spec.name)}`
          : `config file ${input.file}: ${spec.name}`;
    const { value, issue } = coerce(spec, raw, where);
    if (issue) issues.push(issue);
    // Paths are resolved once, here: everything after load sees absolute paths, whatever directory it runs in.
    values[spec.name] =
      spec.path && typeof value === 'string' ? (value === '' ? undefined : resolve(cwd, value)) : value;
    sources[spec.name] = src;
  }
  if (issues.length) {
    throw new KilnError('config_invalid', `invalid configuration: ${issues.map((i) => i.message).join('; ')}`, {
      issues,
    });
  }
  const sections: Record<string, unknown> = Object.fromEntries(
    Object.entries(file).filter(([k]) => sectionNames.has(k)),
  );
  for (const [name, key] of sectionPaths) {
    const sec = sections[name];
    if (
      sec &&
      typeof sec === 'object' &&
      !Array.isArray(sec) &&
      typeof (sec as Record<string, unknown>)[key] === 'string'
    ) {
      sections[name] = { ...sec, [key]: resolve(cwd, (sec as Record<string, string>)[key]) };
    }
  }
  return Object.freeze({
    values: Object.freeze(values),
    sections: Object.freeze(sections),
    sources: Object.freeze(sources),
  });
}
