// Across controllers on one PostgreSQL: each controller LISTENs on the events
// channel on a connection of its own, and every notification (sent by an event
// append, delivered at its commit) wakes its event feed at once instead of at
// its next poll. The feed still reads by position from the store, so the
// order stays commit order (ADR 0008) and a lost notification only costs one
// poll interval. docs/adr/0013-singletons-and-members.md.
import pg from 'pg';
import { silentLogger, type Logger } from '../log/logger.js';
import { EVENTS_CHANNEL } from './sql-event-store.js';

/** Listens until `close()`; a broken connection is reopened after `retryMs`. */
export function listenForEvents(o: { url: string; onEvent: () => void; log?: Logger; retryMs?: number }): {
  close(): Promise<void>;
} {
  const log = o.log ?? silentLogger;
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  const schedule = (err: Error) => {
    if (closed || retry) return;
    log.warn({ err: err.message }, 'event notifications: connection lost or refused; retrying (the feed still polls)');
    retry = setTimeout(() => {
      retry = null;
      void open().catch(schedule);
    }, o.retryMs ?? 1000);
  };
  const open = async () => {
    const c = new pg.Client({ connectionString: o.url, keepAlive: true, application_name: 'kiln events' });
    client = c;
    c.on('notification', () => o.onEvent());
    c.on('error', (err) => {
      void c.end().catch(() => {});
      schedule(err);
    });
    await c.connect();
    await c.query(`LISTEN ${EVENTS_CHANNEL}`);
    // An event committed while the connection was down is read by the next poll; wake it now.
    o.onEvent();
  };
  void open().catch(schedule);
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
