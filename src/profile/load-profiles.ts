import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { createSandbox, parseTemplate } from '../template/sandbox.js';
import { templateIssue } from '../template/template-error.js';
import type { LoadedProfile } from './loaded-profile.js';
import { loadProfile, type SharedSnippets } from './load-profile.js';
import { maxTextFileBytes, readRegularText, symlinkIssue } from './read-profile-dir.js';
import type { ProfileValidation } from './profile-summary.js';

/** Name of the directory of shared snippets inside the profiles directory. */
export const sharedSnippetsDir = '_snippets';

/**
 * Names of profile directories under `dir` (sorted; `_snippets` and dot-dirs
 * excluded). A symlink is listed too, so that loading it fails with an issue
 * naming it rather than the profile silently missing.
 */
export async function listProfiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.') && !e.name.startsWith('_'))
    .map((e) => e.name)
    .sort();
}

/** Reads and syntax-checks `<dir>/_snippets/`; a missing directory means no shared snippets. */
export async function loadSharedSnippets(dir: string): Promise<{ shared: SharedSnippets; issues: ErrorIssue[] }> {
  const sdir = join(dir, sharedSnippetsDir);
  const displayDir = `${basename(dir)}/${sharedSnippetsDir}`;
  const texts = new Map<string, string>();
  const issues: ErrorIssue[] = [];
  // lstat, never stat: a link here (or `_snippets` itself being one) could render any file the controller can read into an install file.
  const dirStat = await lstat(sdir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (dirStat?.isSymbolicLink()) return { shared: { texts, displayDir }, issues: [symlinkIssue(displayDir)] };
  const entries = dirStat ? await readdir(sdir, { withFileTypes: true }) : [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    if (e.isSymbolicLink()) {
      issues.push(symlinkIssue(`${displayDir}/${e.name}`));
      continue;
    }
    if (!e.isFile()) continue;
    const text = await readRegularText(join(sdir, e.name), maxTextFileBytes);
    if (text === null)
      issues.push({
        path: `${displayDir}/${e.name}:1:1`,
        code: 'too_large',
        message: `larger than ${maxTextFileBytes} bytes`,
      });
    else texts.set(e.name, text);
  }
  if (issues.length > 0) return { shared: { texts, displayDir }, issues };
  const sandbox = createSandbox(new Map());
  for (const [name, text] of texts) {
    try {
      parseTemplate(sandbox, text, name);
    } catch (err) {
      issues.push(templateIssue(err, name, (_p, line, col) => `${displayDir}/${name}:${line}:${col}`));
    }
  }
  return { shared: { texts, displayDir }, issues };
}

/** Options of `loadProfiles`. */
export interface LoadProfilesOptions {
  log?: Logger;
}

/**
 * Loads every profile under `dir`. A profile that fails validation is left
 * out of `profiles` and its profile_invalid error is in `errors` (logged at
 * warn); the others load. A broken shared snippet fails every profile.
 */
export async function loadProfiles(
  dir: string,
  opts: LoadProfilesOptions = {},
): Promise<{ profiles: Map<string, LoadedProfile>; errors: KilnError[] }> {
  const log = opts.log ?? silentLogger;
  const { shared, issues } = await loadSharedSnippets(dir);
  const errors: KilnError[] = [];
  const profiles = new Map<string, LoadedProfile>();
  if (issues.length > 0) {
    errors.push(
      new KilnError(
        'profile_invalid',
        `shared snippets: ${issues.length} problem(s); first: ${issues[0].path}: ${issues[0].message}`,
        { issues },
      ),
    );
    log.warn({ issues }, 'shared snippets invalid; no profile loaded');
    return { profiles, errors };
  }
  for (const name of await listProfiles(dir)) {
    try {
      profiles.set(name, await loadProfile(join(dir, name), { shared, displayDir: `${basename(dir)}/${name}`, log }));
    } catch (err) {
      const e =
        err instanceof KilnError
          ? err
          : new KilnError('profile_invalid', `profile ${name}: ${String(err)}`, { cause: err });
      errors.push(e);
      log.warn({ profile: name, issues: e.issues }, 'profile invalid; not loaded');
    }
  }
  log.info({ loaded: [...profiles.keys()], invalid: errors.length }, 'profiles loaded');
  return { profiles, errors };
}

/**
 * Validates one profile directory (`<profiles>/<name>`), using the shared
 * snippets of its parent. Never throws for an invalid profile: returns the
 * issues as data, for `kiln profile validate`.
 */
export async function validateProfile(dir: string): Promise<ProfileValidation> {
  const parent = join(dir, '..');
  const name = basename(dir);
  const { shared, issues } = await loadSharedSnippets(parent);
  if (issues.length > 0) return { name, ok: false, issues };
  try {
    await loadProfile(dir, { shared, displayDir: `${basename(parent)}/${name}` });
    return { name, ok: true, issues: [] };
  } catch (err) {
    if (err instanceof KilnError)
      return {
        name,
        ok: false,
        issues:
          err.issues.length > 0
            ? err.issues
            : [{ path: `${basename(parent)}/${name}`, code: err.code, message: err.message }],
      };
    return {
      name,
      ok: false,
      issues: [{ path: `${basename(parent)}/${name}`, code: 'unreadable', message: String(err) }],
    };
  }
}
