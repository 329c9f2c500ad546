/**
 * The Debian mirror this machine's apt already uses, read from
 * /etc/apt/sources.list (one-line format) and /etc/apt/sources.list.d/
 * (`*.list`, and deb822 `*.sources`), so `kiln image build` never names a
 * mirror of its own. Parsing is pure; `readAptSources` reads the files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';

/** One apt source: a `deb` URI with its suites and components (sources(5)). */
export interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
  signedBy?: string;
}

/** Parses deb822 `.sources` text: stanzas separated by blank lines; only `Types: deb` and enabled stanzas count. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = '';
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      if (/^\s/.test(line) && last) fields.set(last, `${fields.get(last)} ${line.trim()}`);
      else {
        const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
        if (!m) continue;
        last = m[1].toLowerCase();
        fields.set(last, m[2].trim());
      }
    }
    const words = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    if (!words('types').includes('deb') || fields.get('enabled') === 'no') continue;
    for (const uri of words('uris'))
      out.push({
        uri,
        suites: words('suites'),
        components: words('components'),
        // Only a keyring path is passed on; an inline key block stays with apt.
        ...(fields.get('signed-by')?.startsWith('/') ? { signedBy: fields.get('signed-by') } : {}),
      });
  }
  return out;
}

/** Parses one-line `.list` text: `deb [options] URI suite component…`; `deb-src` and comments are skipped. */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
    out.push({
      uri: m[2],
      suites: [m[3]],
      components: m[4].split(/\s+/).filter(Boolean),
      ...(signedBy ? { signedBy } : {}),
    });
  }
  return out;
}

/** Suites of the family of `suite`: itself and its `-updates` and `-security` companions (not backports). */
const familyOf = (suite: string) => new RegExp(`^${suite.replace(/[^a-z0-9]/g, '')}(-updates|-security)?$`);

/**
 * mmdebstrap mirror arguments (`deb [signed-by=…] URI SUITE COMPONENTS`) for
 * `suite` from the machine's sources. When the machine does not carry that
 * suite, the URIs that carry a plain release suite are used with the
 * requested one (a bookworm machine building trixie). Pure.
 */
export function mirrorLinesFor(sources: readonly AptSource[], suite: string): string[] {
  const family = familyOf(suite);
  const lines: string[] = [];
  const line = (s: AptSource, suiteName: string) =>
    `deb ${s.signedBy ? `[signed-by=${s.signedBy}] ` : ''}${s.uri} ${suiteName} ${(s.components.length ? s.components : ['main']).join(' ')}`;
  for (const s of sources) for (const x of s.suites) if (family.test(x)) lines.push(line(s, x));
  if (lines.length > 0) return [...new Set(lines)];
  const release = sources.filter((s) => s.suites.some((x) => /^[a-z]+$/.test(x)));
  if (release.length === 0)
    throw new KilnError(
      'config_invalid',
      `no Debian source in /etc/apt/sources.list(.d) to build ${suite} from; add the machine's Debian mirror there`,
    );
  return [...new Set(release.map((s) => line(s, suite)))];
}

/** Every `deb` source of this machine's apt configuration under `root` (default `/etc/apt`). */
export function readAptSources(root = '/etc/apt'): AptSource[] {
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return ''; // absent files are normal (deb822-only machines have no sources.list)
    }
  };
  const out = parseOneLineSources(read(join(root, 'sources.list')));
  let names: string[];
  try {
    names = readdirSync(join(root, 'sources.list.d')).sort();
  } catch {
    names = [];
  }
  for (const n of names) {
    if (n.endsWith('.list')) out.push(...parseOneLineSources(read(join(root, 'sources.list.d', n))));
    if (n.endsWith('.sources')) out.push(...parseDeb822Sources(read(join(root, 'sources.list.d', n))));
  }
  return out;
}
