/**
 * Objects and manifests this controller lacks, taken from another member of
 * the store on first request (docs/cluster.md, "Content between members").
 * Both are named by their SHA-256, so what a peer sends is checked before it
 * is stored or served: an object goes through the object store's put with the
 * expected id (hashed while written, renamed into place only when it
 * matches); a manifest's text must hash to its id, and its install views are
 * rendered here from it, never taken from the peer.
 */
import { stat } from 'node:fs/promises';
import { KilnError } from '../../error/kiln-error.js';
import { INSTALL_VIEWS, renderInstallView } from './install-views.js';
import { manifestId, OBJECT_ID, parseManifest } from './manifest.js';
import type { createManifestStore } from './manifest-store.js';
import type { ObjectStore } from './object-store.js';

/** Largest manifest text taken from a peer (a Debian root's is a few MiB). */
const MAX_MANIFEST_BYTES = 256 << 20;

/**
 * Fetches one item from the peers through `sink` (which throws
 * `validation_failed` on bytes that do not match); resolves with the peer's
 * name, or null when none had it. One function: src/cluster/peer-fetch.ts.
 */
export type FetchFromPeers = (
  kind: 'objects' | 'manifests' | 'tarballs' | 'node-image' | 'images',
  id: string,
  sink: (chunks: AsyncIterable<Uint8Array>) => Promise<void>,
) => Promise<string | null>;

/** Creates the on-demand fetches over the local stores. */
export function createPeerContent(deps: {
  objects: ObjectStore;
  manifests: ReturnType<typeof createManifestStore>;
  fetchFromPeers: FetchFromPeers;
}) {
  const { objects, manifests } = deps;
  // One check-then-fetch per item at a time: a request that finds no entry here finds the file (it is renamed into
  // place before the entry goes), so one item is fetched once however many ask at that moment.
  const inFlight = new Map<string, Promise<boolean>>();
  const once = (key: string, run: () => Promise<boolean>): Promise<boolean> => {
    const had = inFlight.get(key);
    if (had) return had;
    const p = run().finally(() => inFlight.delete(key));
    inFlight.set(key, p);
    return p;
  };

  async function storeManifest(id: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of chunks) {
      n += c.length;
      if (n > MAX_MANIFEST_BYTES)
        throw new KilnError('validation_failed', `manifest ${id}: over ${MAX_MANIFEST_BYTES} bytes`);
      parts.push(Buffer.from(c));
    }
    const text = Buffer.concat(parts).toString('utf8');
    const got = manifestId(text);
    if (got !== id) throw new KilnError('validation_failed', `manifest ${id}: the text hashes to ${got}`);
    const manifest = parseManifest(text);
    // The views first, the manifest last: a manifest on disk always has its views beside it.
    for (const v of INSTALL_VIEWS) await manifests.putView(id, v, renderInstallView(manifest, v));
    const stored = await manifests.put(manifest);
    if (stored !== id) throw new KilnError('validation_failed', `manifest ${id}: stored as ${stored}, not canonical`);
  }

  return {
    /** True when the object is here, fetched from a peer if it was not. */
    ensureObject(id: string): Promise<boolean> {
      if (!OBJECT_ID.test(id)) return Promise.resolve(false);
      return once(`o/${id}`, async () => {
        if (await objects.has(id)) return true;
        await deps.fetchFromPeers('objects', id, async (chunks) => {
          await objects.put(chunks, { id });
        });
        return objects.has(id);
      });
    },
    /** True when the manifest (with its install views) is here, fetched from a peer if it was not. */
    ensureManifest(id: string): Promise<boolean> {
      const path = manifests.pathOf(id);
      if (path === null) return Promise.resolve(false);
      const here = () =>
        stat(path).then(
          (s) => s.isFile(),
          () => false,
        );
      return once(`m/${id}`, async () => {
        if (await here()) return true;
        await deps.fetchFromPeers('manifests', id, (chunks) => storeManifest(id, chunks));
        return here();
      });
    },
  };
}
