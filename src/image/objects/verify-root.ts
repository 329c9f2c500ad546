/**
 * Integrity of an installed root against its image manifest (`kiln host
 * verify`). The host lists its root with node/verify/kiln-verify-list.sh
 * (GNU find and sha256sum, run over SSH); this module parses that listing and
 * says which paths were added, changed or are missing. Pure.
 *
 * Listing format (kiln-verify/1), tab-separated, path last but one:
 *   kiln-verify/1 <image id or "unknown">
 *   <find %y> <mode octal> <uid> <gid> <size> <path> <symlink target or empty>
 *   ...
 *   --- sha256
 *   <sha256>  <path>                       (sha256sum's output, regular files)
 *
 * Scope: trees the system owns. Paths under SKIPPED_TREES are not compared
 * (state, homes, mounts), nor WRITER_PATHS: what the image writer, its late
 * step and first boot write or enable on every host (docs/images.md lists both).
 */
import type { Manifest, ManifestEntry } from './manifest.js';

/** Trees neither listed nor compared. */
export const SKIPPED_TREES = [
  '/proc',
  '/sys',
  '/dev',
  '/run',
  '/tmp',
  '/var',
  '/home',
  '/root',
  '/srv',
  '/mnt',
  '/media',
  '/boot/efi',
  '/boot/grub',
  '/lost+found',
] as const;

/** Paths every installed host has changed on purpose (writer, late step, first boot, systemd). */
export const WRITER_PATHS = [
  '/etc/hostname',
  '/etc/hosts',
  '/etc/fstab',
  '/etc/shadow',
  '/etc/shadow-',
  '/etc/passwd',
  '/etc/passwd-',
  '/etc/machine-id',
  '/etc/resolv.conf',
  '/etc/adjtime',
  '/etc/.pwd.lock',
  '/etc/kiln',
  '/etc/ssh/sshd_config',
  '/etc/ssh/sshd_config.d/10-kiln.conf',
  '/etc/ssh/ssh_host_ed25519_key',
  '/etc/ssh/ssh_host_ed25519_key.pub',
  '/etc/ssh/ssh_host_ed25519_key-cert.pub',
  '/etc/network/interfaces',
  '/etc/network/interfaces.d/kiln',
  '/etc/systemd/network/10-kiln.network',
  '/etc/NetworkManager/system-connections/kiln-boot.nmconnection',
  '/etc/systemd/system/kiln-firstboot.service',
  '/etc/systemd/system/kiln-heartbeat.service',
  '/etc/systemd/system/kiln-heartbeat.timer',
  '/etc/systemd/system/timers.target.wants',
  '/etc/ssh/kiln-revoked-keys',
  '/etc/ssh/sshd_config.d/10-kiln-krl.conf',
  '/etc/systemd/system/multi-user.target.wants',
  '/etc/systemd/system/sockets.target.wants',
  '/etc/systemd/system/network-online.target.wants',
  '/usr/lib/kiln',
] as const;

/** One path as the host listed it. */
export interface ListedPath {
  type: ManifestEntry['type'] | 'socket' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  target?: string;
  sha256?: string;
}

/** A parsed listing: the image id the host names (/etc/kiln/image-id) and its paths. */
export interface RootListing {
  imageId: string | null;
  paths: Map<string, ListedPath>;
  /** Lines that did not parse (a path holding a tab or newline), counted. */
  unparsed: number;
}

/** What differs. */
export interface VerifyReport {
  added: string[];
  changed: { path: string; what: string[] }[];
  missing: string[];
  /** Manifest paths compared. */
  checked: number;
}

const FIND_TYPE: Record<string, ListedPath['type']> = {
  f: 'file',
  d: 'dir',
  l: 'symlink',
  c: 'char',
  b: 'block',
  p: 'fifo',
  s: 'socket',
};

function under(path: string, trees: readonly string[]): boolean {
  return trees.some((t) => path === t || path.startsWith(`${t}/`));
}

/** True when `path` is not compared (skipped tree or a path the writer owns). */
export function outOfScope(path: string): boolean {
  return under(path, SKIPPED_TREES) || under(path, WRITER_PATHS);
}

/** Parses a kiln-verify/1 listing; throws on a missing header. */
export function parseListing(text: string): RootListing {
  const lines = text.split('\n');
  const head = /^kiln-verify\/1 (\S+)$/.exec(lines[0] ?? '');
  if (!head) throw new Error('not a kiln-verify/1 listing (first line)');
  const imageId = /^[0-9a-f]{64}$/.test(head[1]) ? head[1] : null;
  const paths = new Map<string, ListedPath>();
  let unparsed = 0;
  let i = 1;
  for (; i < lines.length && lines[i] !== '--- sha256'; i++) {
    if (lines[i] === '') continue;
    const f = lines[i].split('\t');
    if (f.length !== 7 || !f[5].startsWith('/')) {
      unparsed++;
      continue;
    }
    const type = FIND_TYPE[f[0]] ?? 'other';
    paths.set(f[5], {
      type,
      mode: parseInt(f[1], 8),
      uid: Number(f[2]),
      gid: Number(f[3]),
      size: Number(f[4]),
      ...(type === 'symlink' ? { target: f[6] } : {}),
    });
  }
  for (i++; i < lines.length; i++) {
    const m = /^([0-9a-f]{64}) [ *](\/.*)$/.exec(lines[i]);
    if (!m) {
      if (lines[i] !== '') unparsed++;
      continue;
    }
    const p = paths.get(m[2]);
    if (p) p.sha256 = m[1];
  }
  return { imageId, paths, unparsed };
}

/** Compares a host's listing with the manifest it was installed from. */
export function verifyRoot(m: Manifest, listing: RootListing): VerifyReport {
  const byPath = new Map(m.entries.map((e) => [e.path, e]));
  const report: VerifyReport = { added: [], changed: [], missing: [], checked: 0 };
  for (const e of m.entries) {
    if (e.path === '/' || outOfScope(e.path)) continue;
    report.checked++;
    const got = listing.paths.get(e.path);
    if (!got) {
      report.missing.push(e.path);
      continue;
    }
    const want = e.type === 'hardlink' ? (byPath.get(e.target ?? '') ?? e) : e;
    const wantType = want.type === 'hardlink' ? 'file' : want.type;
    const what: string[] = [];
    if (got.type !== wantType) what.push(`type ${wantType} → ${got.type}`);
    else {
      if (wantType !== 'symlink' && (got.mode & 0o7777) !== (want.mode & 0o7777))
        what.push(`mode ${(want.mode & 0o7777).toString(8)} → ${(got.mode & 0o7777).toString(8)}`);
      if (got.uid !== want.uid || got.gid !== want.gid)
        what.push(`owner ${want.uid}:${want.gid} → ${got.uid}:${got.gid}`);
      if (wantType === 'file' && (got.size !== want.size || got.sha256 !== want.object)) what.push('content');
      if (wantType === 'symlink' && got.target !== e.target) what.push(`target ${e.target} → ${got.target}`);
    }
    if (what.length > 0) report.changed.push({ path: e.path, what });
  }
  for (const path of listing.paths.keys())
    if (path !== '/' && !byPath.has(path) && !outOfScope(path)) report.added.push(path);
  report.added.sort();
  return report;
}
