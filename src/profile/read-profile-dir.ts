import { constants, type Dirent } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { checkServedName } from '../protocols/served-name.js';
import type { ErrorIssue } from '../error/kiln-error.js';

/** Largest template, snippet or script read into memory, in bytes. */
export const maxTextFileBytes = 1024 * 1024;

/** The text files of one profile directory, keyed by path relative to it (`templates/preseed.cfg`). */
export interface ProfileDirContents {
  /** `profile.yaml` text, or undefined when the file is missing. */
  profileYaml: string | undefined;
  /** Files under `templates/`, `scripts/` and `snippets/` (relative path → text). */
  texts: Map<string, string>;
  /** Every other regular file (boot files such as `boot/vmlinuz`), relative paths. */
  otherFiles: Set<string>;
  issues: ErrorIssue[];
}

const textDirs = new Set(['templates', 'scripts', 'snippets']);

/** The issue for a symlink found in a profile (or in `_snippets`), naming it. */
export function symlinkIssue(displayPath: string): ErrorIssue {
  return {
    path: `${displayPath}:1:1`,
    code: 'symlink',
    message:
      'is a symlink; a profile holds only regular files and directories (copy the file in instead of linking it)',
  };
}

/**
 * Reads a text file that must be a regular file: opened with O_NOFOLLOW (a
 * file swapped for a link since the directory walk fails with ELOOP), size
 * checked on the open descriptor. Returns null when it is larger than `max`.
 */
export async function readRegularText(path: string, max: number): Promise<string | null> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${path}: not a regular file`), { code: 'EINVAL' });
    if (st.size > max) return null;
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** Entries of `dir`, skipping dot-files; links, and anything but files and directories, are reported. */
async function walk(base: string, rel: string, out: string[], links: string[], odd: string[]): Promise<void> {
  const entries: Dirent[] = await readdir(join(base, rel), { withFileTypes: true });
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isSymbolicLink()) links.push(p);
    else if (e.isDirectory()) await walk(base, p, out, links, odd);
    else if (e.isFile()) out.push(p);
    else odd.push(p);
  }
}

/**
 * Reads a profile directory into memory once, so that validation and every
 * later render work without the disk. `displayDir` prefixes issue paths.
 * A symlink anywhere in the profile (or the profile directory itself being
 * one) is an issue naming it: a link could make a template render, or the
 * boot-file route serve, a file from outside the profile (/etc/shadow, the
 * admin token). Boot files must have names the boot-file routes can serve
 * (served-path.ts).
 */
export async function readProfileDir(dir: string, displayDir: string): Promise<ProfileDirContents> {
  const issues: ErrorIssue[] = [];
  const texts = new Map<string, string>();
  const otherFiles = new Set<string>();
  if ((await lstat(dir)).isSymbolicLink()) {
    return { profileYaml: undefined, texts, otherFiles, issues: [symlinkIssue(displayDir)] };
  }
  const paths: string[] = [];
  const links: string[] = [];
  const odd: string[] = [];
  await walk(dir, '', paths, links, odd);
  let profileYaml: string | undefined;
  for (const p of links) issues.push(symlinkIssue(`${displayDir}/${p}`));
  for (const p of odd)
    issues.push({
      path: `${displayDir}/${p}:1:1`,
      code: 'not_a_file',
      message: 'is neither a regular file nor a directory (a fifo, socket or device); remove it',
    });
  for (const p of paths) {
    const top = p.split('/')[0] ?? '';
    if (p === 'profile.yaml') {
      profileYaml = (await readRegularText(join(dir, p), maxTextFileBytes)) ?? undefined;
      if (profileYaml === undefined)
        issues.push({
          path: `${displayDir}/${p}:1:1`,
          code: 'too_large',
          message: `larger than ${maxTextFileBytes} bytes`,
        });
    } else if (!textDirs.has(top) || !p.includes('/')) {
      const name = checkServedName(p);
      if (name.ok) otherFiles.add(p);
      else
        issues.push({
          path: `${displayDir}/${p}:1:1`,
          code: 'unservable_name',
          message: `cannot be served as a boot file: ${name.reason}; rename it`,
        });
    } else if (top === 'snippets' && p.split('/').length > 2) {
      issues.push({
        path: `${displayDir}/${p}:1:1`,
        code: 'nested_snippet',
        message: 'snippets/ is flat: snippets are referenced by file name',
      });
    } else {
      const text = await readRegularText(join(dir, p), maxTextFileBytes);
      if (text === null)
        issues.push({
          path: `${displayDir}/${p}:1:1`,
          code: 'too_large',
          message: `larger than ${maxTextFileBytes} bytes`,
        });
      else texts.set(p, text);
    }
  }
  return { profileYaml, texts, otherFiles, issues };
}
