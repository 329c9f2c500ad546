/**
 * The one rule for every file Kiln serves without a credential: HTTP
 * `/ipxe/`, `/images/`, `/boot/profiles/<p>/…`, `/boot/kiln/…` and the TFTP
 * root. Both transports first turn the request into a relative name (HTTP:
 * the decoded URL path; TFTP: the wire name with `\` read as `/`), then call
 * `checkServedName` (pure) and `resolveServedFile` (the filesystem), so a name
 * refused by one is refused by the other.
 *
 * The name rule is protocols/served-name.ts (pure; profiles apply it at load too).
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
import { checkServedName, type ServedRefusal } from '../protocols/served-name.js';

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
