// Across controllers on one PostgreSQL: each controller LISTENs on the events
// channel on a connection of its own, and every notification (sent by an event
// append, delivered at its commit) wakes its event feed at once instead of at
// its next poll. The feed still reads by position from the store, so the
// order stays commit order (ADR 0008) and a lost notification only costs one
// poll interval. docs/adr/0013-singletons-and-members.md.
import type { Logger } from '../log/logger.js';
import { listenOnPostgres } from '../store/pg-listen.js';
import { EVENTS_CHANNEL } from './sql-event-store.js';

/** Listens until `close()`; a broken connection is reopened after `retryMs`. */
export function listenForEvents(o: { url: string; onEvent: () => void; log?: Logger; retryMs?: number }): {
  close(): Promise<void>;
} {
  return listenOnPostgres({
    url: o.url,
    channels: [EVENTS_CHANNEL],
    name: 'kiln events',
    onNotification: () => o.onEvent(),
    // An event committed while the connection was down is read by the next poll; wake it now.
    onListening: () => o.onEvent(),
    lostMessage: 'event notifications: connection lost or refused; retrying (the feed still polls)',
    log: o.log,
    retryMs: o.retryMs,
  });
}
