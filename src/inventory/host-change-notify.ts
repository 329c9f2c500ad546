// Across controllers on one PostgreSQL: each controller LISTENs for host
// changes on a connection of its own, so its host list page cache
// (host-page-cache.ts) forgets what another controller's committed change made
// stale. The cache is live only while this connection listens: before LISTEN
// succeeds and after the connection breaks, pages are neither kept nor served
// (a change committed meanwhile would go unheard), and every (re)connection
// starts from an empty cache.
import pg from 'pg';
import { silentLogger, type Logger } from '../log/logger.js';
import { HOSTS_CHANNEL } from './sql-host-store.js';

/** What the listener drives: the inventory service's `hostPages`. */
export interface HostPageControl {
  changed(): void;
  setLive(on: boolean): void;
}

/**
 * Listens until `close()`; a broken connection is reopened after `retryMs`. Host writes notify `kiln_hosts`;
 * `alsoChannels` are heard too (the root passes the events channel: a controller of an older version signals
 * its host changes only through the event each change appends in its transaction).
 */
export function listenForHostChanges(o: {
  url: string;
  pages: HostPageControl;
  alsoChannels?: readonly string[];
  log?: Logger;
  retryMs?: number;
}): {
  close(): Promise<void>;
} {
  const log = o.log ?? silentLogger;
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  const schedule = (err: Error) => {
    o.pages.setLive(false);
    if (closed || retry) return;
    log.warn({ err: err.message }, 'host change notifications: connection lost or refused; host list pages uncached');
    retry = setTimeout(() => {
      retry = null;
      void open().catch(schedule);
    }, o.retryMs ?? 1000);
  };
  const open = async () => {
    const c = new pg.Client({ connectionString: o.url, keepAlive: true, application_name: 'kiln hosts' });
    client = c;
    c.on('notification', () => o.pages.changed());
    // Only the current connection's end counts (an old one may end after its replacement listens).
    c.on('error', (err) => {
      void c.end().catch(() => {});
      if (client === c) schedule(err);
    });
    c.on('end', () => {
      if (!closed && client === c) schedule(new Error('connection ended'));
    });
    await c.connect();
    await c.query([HOSTS_CHANNEL, ...(o.alsoChannels ?? [])].map((ch) => `LISTEN ${ch};`).join(' '));
    if (!closed && client === c) o.pages.setLive(true);
  };
  void open().catch(schedule);
  return {
    async close() {
      closed = true;
      o.pages.setLive(false);
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
