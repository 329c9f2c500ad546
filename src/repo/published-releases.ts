/**
 * What this member's published subset serves, per suite: its Release's Date and SHA-256 (peer-sync-decision.ts), read
 * from the live tree. The Release text is the one whose signature apt checks; a tree re-published from a peer keeps
 * the peer's text, so its Date and SHA-256 are the peer's.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PublishedRelease } from './peer-sync-decision.js';
import { parseRelease } from './release-file.js';
import type { RepoLayout } from './repo-layout.js';

/** The suites of the live tree with a readable, dated Release (a suite without one is left out). */
export async function readPublishedReleases(layout: RepoLayout): Promise<Map<string, PublishedRelease>> {
  const out = new Map<string, PublishedRelease>();
  const dists = join(layout.archiveDir, 'dists');
  for (const suite of (await readdir(dists).catch(() => [] as string[])).sort()) {
    const text = await readFile(join(dists, suite, 'Release'), 'utf8').catch(() => null);
    if (text === null) continue;
    const release = releaseOf(suite, text);
    if (release) out.set(suite, release);
  }
  return out;
}

/** One suite's record from its Release text; null when the text has no readable Date or does not parse. Pure. */
export function releaseOf(suite: string, text: string): PublishedRelease | null {
  let date: number | null;
  try {
    date = parseRelease(text, `dists/${suite}/Release`).date;
  } catch {
    return null; // not a Release this member could serve to a peer anyway
  }
  if (date === null) return null;
  return { suite, date: new Date(date).toISOString(), sha256: createHash('sha256').update(text).digest('hex') };
}
