// One PostgreSQL LISTEN connection of its own, kept open: a broken or refused
// connection is logged and reopened after `retryMs`, and only the current
// connection's end counts (an old one may end after its replacement listens).
// The event feed (event-notify.ts), the host page cache
// (host-change-notify.ts) and the DHCP lease index (lease-notify.ts) each
// hold one.
import pg from 'pg';
import { silentLogger, type Logger } from '../log/logger.js';

/** What one listener hears, and what it says when the connection goes. */
export interface PostgresListen {
  url: string;
  channels: readonly string[];
  /** The connection's `application_name` (seen in pg_stat_activity). */
  name: string;
  onNotification(n: pg.Notification): void;
  /** Each time LISTEN succeeds: `again` after a lost connection (notifications in between were not heard). */
  onListening(again: boolean): void;
  /** The connection was lost or refused (before its retry). */
  onLost?(): void;
  /** The warning logged when the connection is lost: what the caller misses meanwhile. */
  lostMessage: string;
  log?: Logger;
  retryMs?: number;
}

/** Listens until the returned `close()`. */
export function listenOnPostgres(o: PostgresListen): { close(): Promise<void> } {
  const log = o.log ?? silentLogger;
  let client: pg.Client | null = null;
  let closed = false;
  let connections = 0;
  let retry: NodeJS.Timeout | null = null;
  const schedule = (err: Error) => {
    if (closed) return;
    o.onLost?.();
    if (retry) return;
    log.warn({ err: err.message }, o.lostMessage);
    retry = setTimeout(() => {
      retry = null;
      void open().catch(schedule);
    }, o.retryMs ?? 1000);
  };
  const open = async () => {
    const c = new pg.Client({ connectionString: o.url, keepAlive: true, application_name: o.name });
    client = c;
    c.on('notification', (n) => o.onNotification(n));
    c.on('error', (err) => {
      void c.end().catch(() => {});
      if (client === c) schedule(err);
    });
    c.on('end', () => {
      if (!closed && client === c) schedule(new Error('connection ended'));
    });
    await c.connect();
    await c.query(o.channels.map((ch) => `LISTEN ${ch};`).join(' '));
    if (!closed && client === c) o.onListening(connections++ > 0);
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
