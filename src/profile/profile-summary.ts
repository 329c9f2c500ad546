import type { ErrorIssue } from '../error/kiln-error.js';
import type { LoadedProfile } from './loaded-profile.js';
import type { VariableValue } from './profile-schema.js';

/**
 * What `kiln profile list|show` prints and the API returns for a profile:
 * plain data, no templates. `variables[].default` is absent when the variable
 * must be set per host or group.
 */
export interface ProfileSummary {
  name: string;
  description: string;
  os: { family: string; version: string };
  arch: string;
  installMethod: string;
  files: Array<{ name: string; template: string }>;
  variables: Array<{ name: string; description: string; default?: VariableValue }>;
  overriddenSnippets: string[];
  image?: { name: string; disk: string; firmware: string; layout: string };
}

/** Summarizes a loaded profile for listing and showing. */
export function summarizeProfile(profile: LoadedProfile): ProfileSummary {
  const { spec } = profile;
  const summary: ProfileSummary = {
    name: spec.name,
    description: spec.description,
    os: { ...spec.os },
    arch: spec.arch,
    installMethod: spec.install.method,
    files: spec.files.map((f) => ({ ...f })),
    variables: Object.entries(spec.variables ?? {}).map(([name, v]) =>
      v.default === undefined
        ? { name, description: v.description }
        : { name, description: v.description, default: v.default },
    ),
    overriddenSnippets: [...profile.overriddenSnippets],
  };
  if (spec.image)
    summary.image = {
      name: spec.image.name,
      disk: spec.image.disk,
      firmware: spec.image.firmware,
      layout: spec.image.layout ?? 'single',
    };
  return summary;
}

/** The outcome of `kiln profile validate` for one profile directory. */
export interface ProfileValidation {
  name: string;
  ok: boolean;
  /** Every problem, each `file:line:col` in `path`; empty when `ok`. */
  issues: ErrorIssue[];
}

/** One line per issue, `path: message (code)`, or `<name>: ok`: the CLI's validate output. */
export function formatValidation(v: ProfileValidation): string {
  return v.ok ? `${v.name}: ok` : v.issues.map((i) => `${i.path}: ${i.message} (${i.code})`).join('\n');
}
