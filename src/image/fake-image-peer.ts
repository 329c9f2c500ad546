/**
 * A fake peer member for tests: serves another data dir's image content as
 * that member's route does (cluster/content-routes.ts: objects, manifests and
 * tarballs by SHA-256, a record only of its own import), and behaves as
 * cluster/peer-fetch.ts towards the sink: a sink that throws is a refused
 * peer (recorded in `refused`), resolving null as "no peer served it".
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasCode } from '../error/kiln-error.js';
import { createImageCatalog } from './image-catalog.js';
import type { ImageStore } from './image-store.js';
import { tarballPathOf } from './tarball-files.js';

/** Creates the fake over the peer's image store; `tamper` changes the last byte of every item of that kind. */
export function createFakeImagePeer(
  peerStore: ImageStore,
  opts: { name?: string; tamper?: 'tarballs' | 'images' | 'manifests' } = {},
) {
  const calls: string[] = [];
  const refused: string[] = [];
  const catalog = createImageCatalog(peerStore);
  const pathOf = (kind: string, id: string): string | null => {
    if (kind === 'objects') return catalog.objects.pathOf(id);
    if (kind === 'manifests') return catalog.manifests.pathOf(id);
    if (kind === 'tarballs') return tarballPathOf(peerStore, id);
    if (kind === 'node-image') return null; // no node image here: src/discovery/node-image-source.test.ts has its own
    const own = peerStore.get(id);
    return own && own.fetchedFrom === undefined ? join(peerStore.dir, `${id}.json`) : null;
  };
  const fetch = async (
    kind: 'objects' | 'manifests' | 'tarballs' | 'node-image' | 'images',
    id: string,
    sink: (c: AsyncIterable<Uint8Array>) => Promise<void>,
  ): Promise<string | null> => {
    calls.push(`${kind}/${id}`);
    const path = pathOf(kind, id);
    if (!path || !existsSync(path)) return null;
    let bytes = readFileSync(path);
    if (opts.tamper === kind) {
      bytes = Buffer.from(bytes); // the same length, the last byte changed
      bytes[bytes.length - 1] ^= 0xff;
    }
    try {
      await sink(
        (async function* () {
          yield bytes;
        })(),
      );
      return opts.name ?? 'kiln-a';
    } catch (err) {
      refused.push(`${kind}: ${hasCode(err, 'validation_failed') ? 'validation_failed' : (err as Error).message}`);
      return null;
    }
  };
  return { fetch, calls, refused };
}
