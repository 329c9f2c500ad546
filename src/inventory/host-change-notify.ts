// Across controllers on one PostgreSQL: each controller LISTENs for host
// changes on a connection of its own, so its host list page cache
// (host-page-cache.ts) forgets what another controller's committed change made
// stale. The cache is live only while this connection listens: before LISTEN
// succeeds and after the connection breaks, pages are neither kept nor served
// (a change committed meanwhile would go unheard), and every (re)connection
// starts from an empty cache.
import type { Logger } from '../log/logger.js';
import { listenOnPostgres } from '../store/pg-listen.js';
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
  const l = listenOnPostgres({
    url: o.url,
    channels: [HOSTS_CHANNEL, ...(o.alsoChannels ?? [])],
    name: 'kiln hosts',
    onNotification: () => o.pages.changed(),
    onListening: () => o.pages.setLive(true),
    onLost: () => o.pages.setLive(false),
    lostMessage: 'host change notifications: connection lost or refused; host list pages uncached',
    log: o.log,
    retryMs: o.retryMs,
  });
  return {
    async close() {
      o.pages.setLive(false);
      await l.close();
    },
  };
}
