import { Value } from '@sinclair/typebox/value';
import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import type { ProfileContext } from '../template/render-context.js';
import type { LoadedProfile } from './loaded-profile.js';
import { VariableValueSchema, type VariableValue } from './profile-schema.js';

/** The kind of a variable value, for type-checking overrides against defaults. */
function kindOf(v: VariableValue): string {
  return Array.isArray(v) ? 'list' : typeof v;
}

/**
 * Builds `context.profile` for one render: identity plus every declared
 * variable, taking each from `overrides` (group then host values, merged by
 * the caller) or else its default. Throws validation_failed for an unknown
 * override, a value of another kind than the default, or a variable with no
 * default and no override.
 */
export function profileContext(
  profile: LoadedProfile,
  overrides: Readonly<Record<string, unknown>> = {},
): ProfileContext {
  const declared = profile.spec.variables ?? {};
  const issues: ErrorIssue[] = [];
  const values: Record<string, VariableValue> = {};
  for (const [key, value] of Object.entries(overrides)) {
    if (!Object.hasOwn(declared, key))
      issues.push({
        path: `variables.${key}`,
        code: 'unknown_variable',
        message: `profile ${profile.name} declares no variable "${key}"`,
      });
    else if (!Value.Check(VariableValueSchema, value))
      issues.push({
        path: `variables.${key}`,
        code: 'wrong_type',
        message: 'must be a string, number, boolean or list of strings',
      });
  }
  for (const [key, decl] of Object.entries(declared)) {
    const given = Object.hasOwn(overrides, key) ? overrides[key] : undefined;
    if (given !== undefined && Value.Check(VariableValueSchema, given)) {
      if (decl.default !== undefined && kindOf(decl.default) !== kindOf(given)) {
        issues.push({
          path: `variables.${key}`,
          code: 'wrong_type',
          message: `must be a ${kindOf(decl.default)} like its default`,
        });
      }
      values[key] = given;
    } else if (decl.default !== undefined) {
      values[key] = decl.default;
    } else if (given === undefined) {
      issues.push({
        path: `variables.${key}`,
        code: 'missing_variable',
        message: `profile ${profile.name} needs a value for "${key}" (${decl.description})`,
      });
    }
  }
  if (issues.length > 0)
    throw new KilnError('validation_failed', `profile ${profile.name}: ${issues.map((i) => i.message).join('; ')}`, {
      issues,
    });
  const { spec } = profile;
  return { ...values, name: spec.name, os: { ...spec.os }, arch: spec.arch, installMethod: spec.install.method };
}
