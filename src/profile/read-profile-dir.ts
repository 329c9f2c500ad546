import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
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

/** Regular files under `dir`, relative to `base`, skipping dot-files; symlinks are reported. */
async function walk(base: string, rel: string, out: string[], links: string[]): Promise<void> {
  const entries = await readdir(join(base, rel), { withFileTypes: true });
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isSymbolicLink()) links.push(p);
    else if (e.isDirectory()) await walk(base, p, out, links);
    else if (e.isFile()) out.push(p);
  }
}

/**
 * Reads a profile directory into memory once, so that validation and every
 * later render work without the disk. `displayDir` prefixes issue paths.
 */
export async function readProfileDir(dir: string, displayDir: string): Promise<ProfileDirContents> {
  const paths: string[] = [];
  const links: string[] = [];
  await walk(dir, '', paths, links);
  const issues: ErrorIssue[] = [];
  const texts = new Map<string, string>();
  const otherFiles = new Set<string>();
  let profileYaml: string | undefined;
  for (const p of links) {
    if (textDirs.has(p.split('/')[0] ?? '')) {
      issues.push({ path: `${displayDir}/${p}:1:1`, code: 'symlink', message: 'templates, scripts and snippets must be regular files, not symlinks' });
    } else {
      otherFiles.add(p);
    }
  }
  for (const p of paths) {
    const top = p.split('/')[0] ?? '';
    if (p === 'profile.yaml') profileYaml = await readFile(join(dir, p), 'utf8');
    else if (!textDirs.has(top) || !p.includes('/')) otherFiles.add(p);
    else if ((await lstat(join(dir, p))).size > maxTextFileBytes) {
      issues.push({ path: `${displayDir}/${p}:1:1`, code: 'too_large', message: `larger than ${maxTextFileBytes} bytes` });
    } else if (top === 'snippets' && p.split('/').length > 2) {
      issues.push({ path: `${displayDir}/${p}:1:1`, code: 'nested_snippet', message: 'snippets/ is flat: snippets are referenced by file name' });
    } else {
      texts.set(p, await readFile(join(dir, p), 'utf8'));
    }
  }
  return { profileYaml, texts, otherFiles, issues };
}
