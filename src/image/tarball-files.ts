/**
 * Image tarballs by SHA-256 for peers, and `/images/<file>` requests for a
 * tarball this member lacks (docs/cluster.md, "Content between members").
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageStore } from './image-store.js';
import type { PeerImages } from './peer-images.js';

/** `<name>.<tar.gz|tar.zst>`: the only file names under `/images/` an image record names. */
const TARBALL_FILE = /^([a-z0-9][a-z0-9._-]{0,62})\.(tar\.gz|tar\.zst)$/;

/** The local tarball whose record names this SHA-256, or null (the peer checks the bytes against it). */
export function tarballPathOf(images: ImageStore, sha256: string): string | null {
  const image = images.list().find((i) => i.sha256 === sha256 && existsSync(join(images.dir, i.file)));
  return image ? join(images.dir, image.file) : null;
}

/**
 * Before `/images/<rel>` is sent: when `rel` is a tarball file that is not
 * here, takes its image's record from a peer if needed and the tarball by the
 * record's SHA-256. Whatever happens, the local file then decides (a 404 when
 * it is still absent). Other names are left alone.
 */
export async function tarballFromPeers(peers: PeerImages, dir: string, rel: string): Promise<void> {
  const m = TARBALL_FILE.exec(rel);
  if (!m) return;
  const here = await stat(join(dir, rel)).then(
    (s) => s.isFile(),
    () => false,
  );
  if (here) return;
  const image = await peers.ensureImage(m[1]);
  if (image && image.file === rel) await peers.ensureTarball(image);
}
