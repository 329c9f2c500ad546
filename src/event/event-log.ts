// The event log's service: the one way another domain records an event or
// reads the log. An event is written in the same transaction as the change it
// describes (the caller passes its transaction), so neither exists without the
// other. The SQL stays private to this domain, in sql-event-store.ts.
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { EventFilter, KilnEvent, NewEvent } from './event.js';
import * as store from './sql-event-store.js';

/** Records `e` at `at` (ISO time) through `tx`: the caller's open transaction, or the database for a lone event. */
export function appendEvent(tx: Kysely<Database>, e: NewEvent, at: string): Promise<void> {
  return store.appendEvent(tx, e, at);
}

/** Events matching `f`, oldest first unless `order: 'desc'`. */
export function listEvents(db: Kysely<Database>, f: EventFilter): Promise<KilnEvent[]> {
  return store.listEvents(db, f);
}
