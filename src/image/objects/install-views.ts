/**
 * What the image writer reads of a manifest, rendered once at import so the
 * busybox writer needs no JSON parser (node/agent/objects.sh). Each view is a
 * file beside the manifest, `manifests/<id>.<view>`, and its SHA-256 goes into
 * the install plan, so the writer checks what it fetched:
 *
 *   files      one line per object, "<object> <size> <path>" (first path using
 *              it, vis-encoded), for the reuse scan and the fetch
 *   mtree      the whole root as an mtree(5) spec that libarchive's bsdtar
 *              turns into a tar stream, each file's bytes from
 *              `contents=objects/<object>` (relative to the writer's work
 *              directory); hard links are written as copies here and linked
 *              after (the `hardlinks` view)
 *   xattrs     extended attributes in getfattr's dump format, for
 *              `setfattr --restore` in the written root (mtree has no xattrs)
 *   hardlinks  "<path> <target>" per hard link, both vis-encoded
 *
 * Paths are relative ("./usr/bin/ls"); a byte outside [A-Za-z0-9._+,@%:/~-]
 * is written as a backslash and three octal digits, the escape mtree(5) and
 * getfattr share. Pure.
 */
import { sortEntries, type Manifest, type ManifestEntry } from './manifest.js';

/** The views, in the order the writer uses them. */
export const INSTALL_VIEWS = ['files', 'mtree', 'xattrs', 'hardlinks'] as const;
/** One view's name (its file suffix and URL segment). */
export type InstallView = (typeof INSTALL_VIEWS)[number];

const SAFE = /[A-Za-z0-9._+,@%:/~-]/;

/** `text` with every byte outside the safe set as `\ooo` (UTF-8 bytes, three octal digits). */
export function visEncode(text: string): string {
  let out = '';
  for (const ch of text) {
    if (SAFE.test(ch)) out += ch;
    else for (const b of new TextEncoder().encode(ch)) out += `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** An absolute manifest path as the views write it: "." for the root, else "./…", vis-encoded. */
export function relPath(path: string): string {
  return path === '/' ? '.' : `.${visEncode(path)}`;
}

/** Seconds as mtree's `sec.nsec` (nanoseconds as a nine-digit integer). */
function mtreeTime(mtime: number): string {
  const sec = Math.floor(mtime);
  const nsec = Math.round((mtime - sec) * 1e9);
  return `${sec}.${String(Math.min(nsec, 999_999_999)).padStart(9, '0')}`;
}

const MTREE_TYPE: Record<ManifestEntry['type'], string> = {
  file: 'file',
  hardlink: 'file',
  dir: 'dir',
  symlink: 'link',
  char: 'char',
  block: 'block',
  fifo: 'fifo',
};

function objectPath(id: string): string {
  return `objects/${id.slice(0, 2)}/${id.slice(2)}`;
}

function mtreeLine(e: ManifestEntry, byPath: Map<string, ManifestEntry>): string {
  // A hard link shares its target's inode: its bytes and metadata are the target's.
  const src = e.type === 'hardlink' ? (byPath.get(e.target ?? '') ?? e) : e;
  const kw = [
    `type=${MTREE_TYPE[e.type]}`,
    `mode=${(src.mode & 0o7777).toString(8).padStart(4, '0')}`,
    `uid=${src.uid}`,
    `gid=${src.gid}`,
    `time=${mtreeTime(src.mtime)}`,
  ];
  if (src.type === 'file' && src.object !== undefined)
    kw.push(`size=${src.size ?? 0}`, `contents=${objectPath(src.object)}`);
  if (e.type === 'symlink') kw.push(`link=${visEncode(e.target ?? '')}`);
  if (e.type === 'char' || e.type === 'block') kw.push(`device=native,${e.devMajor ?? 0},${e.devMinor ?? 0}`);
  return `${relPath(e.path)} ${kw.join(' ')}`;
}

/** The text of one view of `m`. */
export function renderInstallView(m: Manifest, view: InstallView): string {
  const entries = sortEntries(m.entries);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  switch (view) {
    case 'files': {
      const seen = new Set<string>();
      const lines: string[] = [];
      for (const e of entries)
        if (e.type === 'file' && e.object !== undefined && !seen.has(e.object)) {
          seen.add(e.object);
          lines.push(`${e.object} ${e.size ?? 0} ${relPath(e.path)}`);
        }
      return lines.map((l) => `${l}\n`).join('');
    }
    case 'mtree':
      return `#mtree\n${entries.map((e) => `${mtreeLine(e, byPath)}\n`).join('')}`;
    case 'xattrs':
      return entries
        .filter((e) => e.xattrs !== undefined && Object.keys(e.xattrs).length > 0)
        .map(
          (e) =>
            `# file: ${relPath(e.path)}\n${Object.keys(e.xattrs!)
              .sort()
              .map((k) => `${visEncode(k)}=0s${e.xattrs![k]}\n`)
              .join('')}\n`,
        )
        .join('');
    case 'hardlinks':
      return entries
        .filter((e) => e.type === 'hardlink')
        .map((e) => `${relPath(e.path)} ${relPath(e.target ?? '')}\n`)
        .join('');
  }
}
