// Content a member lacks, fetched from its peers (docs/cluster.md, "Content
// between members"): each peer's HTTPS API (`controllers.api_url`), verified
// against that peer's own TLS CA from `member_cas` (host name included), with
// the member credential (member-credential.ts). The bytes go to a sink that
// hashes them against the id before anything is stored; a peer whose bytes do
// not match is logged and the next one asked. Peers never ask their peers on
// behalf of a peer (the member route serves local content only), so a miss
// costs one request per peer and cannot loop.
import { Agent, request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { hasCode } from '../error/kiln-error.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { PeerEndpoint } from './sql-cluster-store.js';

/**
 * What a member fetches from its peers: image objects, manifests and tarballs
 * and the node image's files by SHA-256, image records by name, files of a
 * peer's published repo subset by their path in it (content-routes.ts).
 */
export type ContentKind = 'objects' | 'manifests' | 'tarballs' | 'node-image' | 'images' | 'repo';

/**
 * Stores what a peer sent after checking it against the id; throws
 * `validation_failed` when the bytes do not hash to it (nothing stored).
 */
export type ContentSink = (chunks: AsyncIterable<Uint8Array>) => Promise<void>;

/** The path of the member route that serves one item of local content (content-routes.ts). */
export const peerContentPath = (kind: ContentKind, id: string): string => `/api/v1/cluster/content/${kind}/${id}`;

/** Thrown inside a fetch when a peer sends more than the size bound. */
class TooLarge extends Error {}

/** Creates the fetcher; `close()` ends its kept-alive connections. */
export function createPeerFetcher(deps: {
  /** The healthy peers now (read from the store; cached here for `peersCacheMs`). */
  peers: () => Promise<PeerEndpoint[]>;
  /** The member credential header for one request (member-credential.ts). */
  sign: (method: string, path: string) => string;
  /** Fetches running at once, across every id (further ones wait their turn). */
  concurrency: number;
  /** Largest item a peer may send (bytes); more is refused and the next peer asked. */
  maxBytes: number;
  /** A peer connection silent this long is given up (ms). */
  idleMs?: number;
  peersCacheMs?: number;
  now?: () => number;
  log?: Logger;
}) {
  const log = deps.log ?? silentLogger;
  const now = deps.now ?? Date.now;
  const idleMs = deps.idleMs ?? 15_000;
  const inFlight = new Map<string, Promise<string | null>>();
  const agents = new Map<string, { pem: string; agent: Agent }>();
  let cached: { at: number; peers: Promise<PeerEndpoint[]> } | null = null;
  let running = 0;
  const waiting: Array<() => void> = [];

  async function slot<T>(fn: () => Promise<T>): Promise<T> {
    if (running >= deps.concurrency) await new Promise<void>((r) => waiting.push(r));
    else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  }

  function peersNow(): Promise<PeerEndpoint[]> {
    if (!cached || now() - cached.at > (deps.peersCacheMs ?? 1000)) {
      const peers = deps.peers().catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'content: reading the peers from the store failed');
        cached = null;
        return [];
      });
      cached = { at: now(), peers };
    }
    return cached.peers;
  }

  /** One kept-alive agent per peer, trusting that peer's TLS CA alone (a renewed CA replaces it). */
  function agentOf(peer: PeerEndpoint): Agent {
    const had = agents.get(peer.id);
    if (had && had.pem === peer.tlsCaPem) return had.agent;
    had?.agent.destroy();
    const agent = new Agent({ keepAlive: true, maxSockets: deps.concurrency, ca: peer.tlsCaPem });
    agents.set(peer.id, { pem: peer.tlsCaPem, agent });
    return agent;
  }

  function get(peer: PeerEndpoint, path: string): Promise<IncomingMessage> {
    const url = new URL(path, peer.apiUrl);
    const opts: RequestOptions = {
      method: 'GET',
      agent: agentOf(peer),
      headers: { authorization: deps.sign('GET', url.pathname) },
    };
    return new Promise((resolve, reject) => {
      const req = request(url, opts, resolve);
      req.setTimeout(idleMs, () => req.destroy(new Error(`no answer for ${idleMs} ms`)));
      req.once('error', reject);
      req.end();
    });
  }

  /** The body's chunks, refusing past `maxBytes`; an idle body fails after `idleMs`. */
  async function* bounded(res: IncomingMessage): AsyncGenerator<Uint8Array> {
    res.setTimeout(idleMs, () => res.destroy(new Error(`body silent for ${idleMs} ms`)));
    let n = 0;
    for await (const chunk of res as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > deps.maxBytes) throw new TooLarge(`more than ${deps.maxBytes} bytes`);
      yield chunk;
    }
  }

  /** Asks one peer; true when it served bytes the sink took. */
  async function tryPeer(peer: PeerEndpoint, kind: ContentKind, id: string, sink: ContentSink): Promise<boolean> {
    const where = { peer: peer.name, url: peer.apiUrl, kind, id };
    let res: IncomingMessage | undefined;
    try {
      res = await get(peer, peerContentPath(kind, id));
      if (res.statusCode !== 200) {
        res.resume(); // a short error body: read it so the kept-alive connection can be used again
        if (res.statusCode === 404) log.debug(where, 'content: the peer does not have it');
        else log.warn({ ...where, status: res.statusCode }, 'content: the peer refused; trying the next one');
        return false;
      }
      const length = Number(res.headers['content-length'] ?? NaN);
      if (length > deps.maxBytes) throw new TooLarge(`${length} bytes announced`);
      await sink(bounded(res));
      return true;
    } catch (err) {
      // A wrong answer is a peer's fault, logged, and the next peer asked: nothing of it was stored.
      const msg = hasCode(err, 'validation_failed')
        ? 'content: the peer sent bytes that do not hash to the id; refused, trying the next one'
        : err instanceof TooLarge
          ? 'content: the peer sent more than the size bound; refused, trying the next one'
          : 'content: fetching from the peer failed; trying the next one';
      log.warn({ ...where, err: (err as Error).message }, msg);
      res?.destroy(); // whatever is left of a refused body is not read
      return false;
    }
  }

  async function fetchOnce(kind: ContentKind, id: string, sink: ContentSink, from?: string): Promise<string | null> {
    const peers = (await peersNow()).filter((p) => from === undefined || p.id === from);
    for (const peer of peers) {
      if (await tryPeer(peer, kind, id, sink)) {
        log.info({ peer: peer.name, kind, id }, 'content: fetched from a peer');
        return peer.name;
      }
    }
    return null;
  }

  return {
    /**
     * Fetches one item from the first peer that has it, through `sink`; with `from` (a `controllers` id), from that
     * peer alone (a repo file must come from the member whose signed index named it). Concurrent calls for one item
     * share one fetch (the first caller's sink). Resolves with the peer's name, or null when no peer served it.
     */
    fetch(kind: ContentKind, id: string, sink: ContentSink, from?: string): Promise<string | null> {
      const key = `${kind}/${id}@${from ?? '*'}`;
      const had = inFlight.get(key);
      if (had) return had;
      const p = slot(() => fetchOnce(kind, id, sink, from)).finally(() => inFlight.delete(key));
      inFlight.set(key, p);
      return p;
    },
    /** Ends every kept-alive peer connection. */
    close(): void {
      for (const a of agents.values()) a.agent.destroy();
      agents.clear();
    },
  };
}
