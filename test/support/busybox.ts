// Test support: a directory holding busybox applets only, as the node image's PATH has (no GNU split, stat,
// find or sha256sum to hide a script's reliance on them).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Debian's busybox, which the node image ships. */
export const BUSYBOX = '/bin/busybox';

/** `<parent>/bb` with every busybox applet linked in (made on the first call); returns its path. */
export function busyboxOnlyPath(parent: string): string {
  const dir = join(parent, 'bb');
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    execFileSync(BUSYBOX, ['--install', '-s', dir]);
  }
  return dir;
}
