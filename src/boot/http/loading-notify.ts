// Across controllers on one PostgreSQL: a slot of the boot waiting room
// (loading-gate.ts) is given by the member that served the machine's script,
// and the load may finish at another member (iPXE failover to the next URL,
// or the script was another member's answer). The member that served the load
// but gave no slot for it says so on `kiln_loading`, with the address the load
// came from; every other member frees the oldest slot it gave to that address.
// Without it the granting member kept the slot until its hold ran out. A
// notice lost (connection down) costs that: the slot is taken back after a few
// loads' time (loading-gate.ts `holdLoads`).
import { randomBytes } from 'node:crypto';
import { sql, type QueryExecutorProvider } from 'kysely';
import { silentLogger, type Logger } from '../../log/logger.js';
import { listenOnPostgres } from '../../store/pg-listen.js';

/** The NOTIFY channel of loads finished at a member that gave no slot for them. */
export const LOADING_CHANNEL = 'kiln_loading';

/** A random name for one member's gate, so it skips its own notices. */
export const newLoadingOrigin = (): string => randomBytes(6).toString('hex');

/** The notice of a load from `from` finished at member `origin`: `<origin> <address>`. */
export const encodeLoadedNotice = (origin: string, from: string): string => `${origin} ${from.slice(0, 100)}`;

/** The origin and address of a notice; undefined for anything else. */
export function decodeLoadedNotice(payload: string): { origin: string; from: string } | undefined {
  const m = /^([0-9a-f]{1,32}) (\S{1,100})$/.exec(payload);
  return m ? { origin: m[1], from: m[2] } : undefined;
}

/** Tells the other members that a load from `from` finished here (PostgreSQL only; SQLite has one member). */
export async function notifyLoaded(db: QueryExecutorProvider, origin: string, from: string): Promise<void> {
  await sql`select pg_notify(${LOADING_CHANNEL}, ${encodeLoadedNotice(origin, from)})`.execute(db);
}

/** LISTENs on `kiln_loading` until the returned close; each other member's notice frees a slot given to its address. */
export function listenForLoads(o: {
  url: string;
  origin: string;
  loaded: (from: string) => void;
  /** Each time LISTEN succeeds (notices sent while the connection was down were not heard). */
  listening?: () => void;
  log?: Logger;
  retryMs?: number;
}): { close(): Promise<void> } {
  const log = o.log ?? silentLogger;
  return listenOnPostgres({
    url: o.url,
    channels: [LOADING_CHANNEL],
    name: 'kiln loading',
    onNotification(n) {
      const notice = n.payload === undefined ? undefined : decodeLoadedNotice(n.payload);
      if (!notice) {
        log.warn({ bytes: n.payload?.length ?? 0 }, 'boot waiting room: loading notice not understood; ignored');
        return;
      }
      if (notice.origin !== o.origin) o.loaded(notice.from);
    },
    onListening: () => o.listening?.(),
    lostMessage:
      "boot waiting room: loading notices: connection lost or refused; a slot whose machine loaded from another member is kept until its hold runs out (a few loads' time)",
    log,
    retryMs: o.retryMs,
  });
}
