/**
 * The one rule for every file Kiln serves without a credential: HTTP
 * `/ipxe/`, `/images/`, `/boot/profiles/<p>/…`, `/boot/kiln/…` and the TFTP
 * root. Both transports first turn the request into a relative name (HTTP:
 * the decoded URL path; TFTP: the wire name with `\` read as `/`), then call
 * `checkServedName` (pure) and `resolveServedFile` (the filesystem), so a name
 * refused by one is refused by the other.
 *
 * The name rule: 1–1024 characters; no control character, backslash, `%`
 * (after the one decoding a transport does, a `%` means a second encoding
 * such as `%252f`) or U+FFFD (what invalid or overlong UTF-8 decodes to);
 * segments separated by `/`, none empty and none starting with `.` (so no
 * `.`, `..`, dotfile or dot-directory).
 *
 * The filesystem rule: the name is resolved with realpath and must stay
 * inside the real root, so a symlink (to a file or a directory) is followed
 * only while it stays inside; the real path's own relative name must pass the
 * name rule too (no link onto a dotfile); only regular files are served. The
 * one exception is `linkedFiles`: exact names the operator has named as
 * boot files (dhcp `bootFiles`), served through a symlink that
 * leaves the root, because Debian's `ipxe` package installs
 * /usr/lib/ipxe/ipxe.efi as a link to /boot/ipxe.efi.
 *
 * The check and the open are two steps: someone who can write inside a
 * served root between them can swap a file for a link. Served roots are
 * owned by the operator (profiles are also refused at load when they hold a
 * link, see read-profile-dir.ts); TFTP opens with O_NOFOLLOW on the resolved
 * path.
 */
import { lstat, realpath } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';

/** Longest name served, in characters. */
export const MAX_SERVED_NAME = 1024;

/** Why a request gets no file: `not_found` (HTTP 404, TFTP ERROR 1) or `refused` (HTTP 404 too, TFTP ERROR 2). */
export type ServedRefusal = { ok: false; kind: 'not_found' | 'refused'; reason: string };

/** A name that passed the rule, or why not. */
export type ServedName = { ok: true; name: string } | ServedRefusal;

// C0 and C1 controls, DEL, backslash, percent, U+FFFD.
const FORBIDDEN_CHAR = /[\u0000-\u001f\u007f-\u009f\\%\ufffd]/u;

/** Applies the name rule to a relative, `/`-separated name. Pure. */
export function checkServedName(name: string): ServedName {
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  if (name.length === 0) return { ok: false, kind: 'refused', reason: 'empty name' };
  if (name.length > MAX_SERVED_NAME)
    return { ok: false, kind: 'refused', reason: `name longer than ${MAX_SERVED_NAME} characters` };
  const bad = FORBIDDEN_CHAR.exec(name);
  if (bad)
    return {
      ok: false,
      kind: 'refused',
      reason: `${shown} contains U+${bad[0].codePointAt(0)!.toString(16).padStart(4, '0')}`,
    };
  for (const seg of name.split('/')) {
    if (seg === '') return { ok: false, kind: 'refused', reason: `${shown} has an empty segment` };
    if (seg.startsWith('.'))
      return { ok: false, kind: 'refused', reason: `${shown} has a segment starting with "." (., .., or a dotfile)` };
  }
  return { ok: true, name };
}

/** A file that passed both rules: its real absolute path, the real root-relative name to open it by, and its stat. */
export interface ServedFile {
  ok: true;
  /** Real absolute path (no symlink in it). */
  real: string;
  /** Directory and name to open: the real root and the real relative name, or, for a linked boot file, its real directory and base name. */
  dir: string;
  rel: string;
  stat: Stats;
}

/** Options of `createServedRoot`. */
export interface ServedRootOptions {
  /** Exact names served even through a symlink that leaves the root (the configured boot files). @default [] */
  linkedFiles?: readonly string[];
}

/** One served directory: `resolve(name)` applies both rules. */
export interface ServedRoot {
  readonly root: string;
  resolve(name: string): Promise<ServedFile | ServedRefusal>;
}

const errnoOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? '';

/**
 * A served root. The root's real path is read at the first request that
 * finds it (the images directory may appear after start), then kept.
 */
export function createServedRoot(root: string, opts: ServedRootOptions = {}): ServedRoot {
  const linked = new Set(opts.linkedFiles ?? []);
  let realRoot: string | null = null;
  const inside = (p: string, r: string): boolean => p.startsWith(r.endsWith(sep) ? r : r + sep);
  return {
    root,
    async resolve(name) {
      const checked = checkServedName(name);
      if (!checked.ok) return checked;
      if (realRoot === null) {
        try {
          realRoot = await realpath(root);
        } catch (err) {
          return { ok: false, kind: 'not_found', reason: `root ${root}: ${errnoOf(err) || 'cannot resolve'}` };
        }
      }
      const r = realRoot;
      let real: string;
      try {
        real = await realpath(join(r, name));
      } catch (err) {
        const code = errnoOf(err);
        if (code === 'ENOENT' || code === 'ENOTDIR')
          return { ok: false, kind: 'not_found', reason: `${name}: no such file` };
        return { ok: false, kind: 'refused', reason: `${name}: ${code || 'cannot resolve'}` };
      }
      let dir: string;
      let rel: string;
      if (inside(real, r)) {
        dir = r;
        rel = relative(r, real).split(sep).join('/');
        const again = checkServedName(rel);
        if (!again.ok) return { ok: false, kind: 'refused', reason: `${name}: resolves to ${again.reason}` };
      } else if (linked.has(name)) {
        dir = dirname(real);
        rel = basename(real);
        const again = checkServedName(rel);
        if (!again.ok) return { ok: false, kind: 'refused', reason: `${name}: resolves to ${again.reason}` };
      } else {
        return { ok: false, kind: 'refused', reason: `${name}: resolves outside the served root` };
      }
      const st = await lstat(real).catch(() => null);
      if (!st || !st.isFile()) return { ok: false, kind: 'not_found', reason: `${name}: not a regular file` };
      return { ok: true, real, dir, rel, stat: st };
    },
  };
}
