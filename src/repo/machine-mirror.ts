import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The Debian archive this machine's apt already uses for a suite: a profile's
 * `repo.upstream` defaults to it, so the shipped profiles name no mirror and
 * `kiln repo sync` fetches from the same place `apt-get` on the controller does.
 */

/** Splits deb822 text (sources.list(5), ".sources" files) into paragraphs of lower-cased field → value. Pure. */
function deb822Paragraphs(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  let cur = new Map<string, string>();
  let last = '';
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#')) continue;
    if (raw.trim() === '') {
      if (cur.size) out.push(cur);
      cur = new Map();
      continue;
    }
    if (/^\s/.test(raw) && last) cur.set(last, `${cur.get(last) ?? ''} ${raw.trim()}`);
    else {
      const i = raw.indexOf(':');
      if (i < 0) continue;
      last = raw.slice(0, i).trim().toLowerCase();
      cur.set(last, raw.slice(i + 1).trim());
    }
  }
  if (cur.size) out.push(cur);
  return out;
}

const words = (v: string | undefined): string[] => (v ?? '').split(/\s+/).filter(Boolean);

/**
 * The first `deb` source serving `suite` with component main, from the texts of
 * ".sources" files (deb822) and one-line ".list" files, in apt's order. Pure.
 */
export function mirrorFromSources(files: readonly { name: string; text: string }[], suite: string): string | undefined {
  for (const f of files) {
    if (f.name.endsWith('.sources')) {
      for (const p of deb822Paragraphs(f.text)) {
        if (/^(no|false)$/i.test(p.get('enabled') ?? '')) continue;
        if (!words(p.get('types')).includes('deb')) continue;
        if (!words(p.get('suites')).includes(suite) || !words(p.get('components')).includes('main')) continue;
        const uri = words(p.get('uris')).find((u) => /^(https?|file):/.test(u));
        if (uri) return uri.replace(/\/+$/, '');
      }
    } else {
      for (const line of f.text.split('\n')) {
        // deb [ options ] uri suite component... (sources.list(5), one-line style)
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
        if (m && m[2] === suite && words(m[3]).includes('main') && /^(https?|file):/.test(m[1]))
          return m[1].replace(/\/+$/, '');
      }
    }
  }
  return undefined;
}

/** Reads /etc/apt/sources.list and sources.list.d/ (".list" and ".sources", in name order) for `mirrorFromSources`. */
export function machineMirror(suite: string, etcApt = '/etc/apt'): string | undefined {
  const files: { name: string; text: string }[] = [];
  const read = (path: string, name: string) => {
    try {
      files.push({ name, text: readFileSync(path, 'utf8') });
    } catch {
      /* absent: apt reads it only when present */
    }
  };
  read(join(etcApt, 'sources.list'), 'sources.list');
  let names: string[];
  try {
    names = readdirSync(join(etcApt, 'sources.list.d')).sort();
  } catch {
    names = []; // no sources.list.d: apt reads sources.list alone
  }
  for (const n of names) if (n.endsWith('.list') || n.endsWith('.sources')) read(join(etcApt, 'sources.list.d', n), n);
  return mirrorFromSources(files, suite);
}
