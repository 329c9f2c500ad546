// Across controllers on one PostgreSQL: every lease commit also notifies the
// `kiln_leases` channel with what it wrote (sql-lease-store.ts), and each DHCP
// server's lease index (lease-index.ts) applies the other controllers' writes
// as they commit. Without it each controller's index knew only its own
// writes: a machine bound by one controller was offered a fresh address by
// another at its next DISCOVER (iPXE after the PXE ROM), and addresses other
// controllers had bound were offered and NAKed at REQUEST. The table stays the
// arbiter (its primary key and the write rule, lease-upsert.ts); this only
// keeps the indexes close to it. Commits before LISTEN, or while the
// connection was down, go unheard, so each (re)connection asks the index to reload.
import { randomBytes } from 'node:crypto';
import { silentLogger, type Logger } from '../../log/logger.js';
import { listenOnPostgres } from '../../store/pg-listen.js';
import type { Lease, LeaseWatcher } from './lease-store.js';

/** The NOTIFY channel a lease commit signals on PostgreSQL. */
export const LEASES_CHANNEL = 'kiln_leases';

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; one notice stays under this. */
const NOTICE_MAX_BYTES = 7900;

/** One lease in a notice: [ip, mac, subnet, expiresAt, state] (the hostname is left out: no decision reads it). */
type Wire = [string, string, string, number, 'b' | 'd'];

/** A random name for one lease store, so its index skips the notices of its own commits (it applied them already). */
export const newLeaseOrigin = (): string => randomBytes(6).toString('hex');

/** The payloads announcing `leases`, each under PostgreSQL's limit: `{"o":origin,"l":[…]}`. */
export function encodeLeaseNotices(origin: string, leases: readonly Lease[]): string[] {
  const head = `{"o":${JSON.stringify(origin)},"l":[`;
  const out: string[] = [];
  let body: string[] = [];
  let size = head.length + 2;
  for (const l of leases) {
    const w: Wire = [l.ip, l.mac, l.subnet, l.expiresAt, l.state === 'bound' ? 'b' : 'd'];
    const item = JSON.stringify(w);
    if (body.length > 0 && size + item.length + 1 > NOTICE_MAX_BYTES) {
      out.push(`${head}${body.join(',')}]}`);
      body = [];
      size = head.length + 2;
    }
    body.push(item);
    size += item.length + 1;
  }
  if (body.length > 0) out.push(`${head}${body.join(',')}]}`);
  return out;
}

const isWire = (w: unknown): w is Wire =>
  Array.isArray(w) &&
  w.length === 5 &&
  typeof w[0] === 'string' &&
  typeof w[1] === 'string' &&
  typeof w[2] === 'string' &&
  typeof w[3] === 'number' &&
  (w[4] === 'b' || w[4] === 'd');

/** A notice's origin and leases; undefined for anything else (another version's or a hand-sent payload). */
export function decodeLeaseNotice(payload: string): { origin: string; leases: Lease[] } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { o, l } = v as { o?: unknown; l?: unknown };
  if (typeof o !== 'string' || !Array.isArray(l) || !l.every(isWire)) return undefined;
  return {
    origin: o,
    leases: l.map(([ip, mac, subnet, expiresAt, s]) => ({
      ip,
      mac,
      subnet,
      expiresAt,
      state: s === 'b' ? ('bound' as const) : ('declined' as const),
    })),
  };
}

/**
 * LISTENs on `kiln_leases` on a connection of its own until the returned stop; a broken connection is reopened
 * after `retryMs`, and every connection, once listening, asks for a resync. Notices from `origin` are skipped.
 */
export function listenForLeaseChanges(o: {
  url: string;
  origin: string;
  watcher: LeaseWatcher;
  log?: Logger;
  retryMs?: number;
}): () => Promise<void> {
  const log = o.log ?? silentLogger;
  const l = listenOnPostgres({
    url: o.url,
    channels: [LEASES_CHANNEL],
    name: 'kiln leases',
    onNotification(n) {
      const notice = n.payload === undefined ? undefined : decodeLeaseNotice(n.payload);
      if (!notice) {
        log.warn(
          { channel: n.channel, bytes: n.payload?.length ?? 0 },
          'dhcp: lease notification not understood; ignored',
        );
        return;
      }
      if (notice.origin !== o.origin) o.watcher.leases(notice.leases);
    },
    // Commits between the index's load and this LISTEN (or while the connection was down) were not heard.
    onListening(again) {
      if (again) log.info({}, 'dhcp: lease notifications: listening again; reloading the lease index');
      o.watcher.resync();
    },
    lostMessage:
      "dhcp: lease notifications: connection lost or refused; this controller does not see other controllers' leases until it is back (the lease table still refuses a taken address)",
    log,
    retryMs: o.retryMs,
  });
  return () => l.close();
}
