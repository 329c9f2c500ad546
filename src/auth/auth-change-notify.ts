// Across controllers on one PostgreSQL: each controller LISTENs for token and
// user changes on a connection of its own, so its principal cache
// (principal-cache.ts) forgets what another controller's revocation, logout or
// user change made stale. The cache is live only while this connection
// listens: before LISTEN succeeds and after the connection breaks, every
// request reads the store (a change committed meanwhile would go unheard), and
// every (re)connection starts from an empty cache.
import type { Logger } from '../log/logger.js';
import { listenOnPostgres } from '../store/pg-listen.js';
import { AUTH_CHANNEL } from './token-service.js';

/** What the listener drives: the token service's `principals`. */
export interface PrincipalControl {
  changed(): void;
  setLive(on: boolean): void;
}

/** Listens until `close()`; a broken connection is reopened after `retryMs`. */
export function listenForAuthChanges(o: {
  url: string;
  principals: PrincipalControl;
  log?: Logger;
  retryMs?: number;
}): {
  close(): Promise<void>;
} {
  const l = listenOnPostgres({
    url: o.url,
    channels: [AUTH_CHANNEL],
    name: 'kiln auth',
    onNotification: () => o.principals.changed(),
    onListening: () => o.principals.setLive(true),
    onLost: () => o.principals.setLive(false),
    lostMessage: 'token and user change notifications: connection lost or refused; principals uncached',
    log: o.log,
    retryMs: o.retryMs,
  });
  return {
    async close() {
      o.principals.setLive(false);
      await l.close();
    },
  };
}
