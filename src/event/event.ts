/**
 * One audit-log entry: who did what to which subject, when and why, with the
 * state before and after. `seq` is assigned by the store and only grows.
 */
export interface KilnEvent {
  seq: number;
  at: string;
  actor: string;
  kind: string;
  hostId: string | null;
  subject: string | null;
  message: string;
  reason: string | null;
  before: unknown;
  after: unknown;
  data: unknown;
}

/** An event before the store numbered and timestamped it. */
export type NewEvent = Omit<KilnEvent, 'seq' | 'at' | 'before' | 'after' | 'data' | 'reason' | 'hostId' | 'subject'> &
  Partial<Pick<KilnEvent, 'before' | 'after' | 'data' | 'reason' | 'hostId' | 'subject'>>;

/** Filters for listing events; `after`/`before` are sequence numbers (exclusive). */
export interface EventFilter {
  hostId?: string;
  kind?: string;
  kindPrefix?: string;
  actor?: string;
  after?: number;
  before?: number;
  limit?: number;
  order?: 'asc' | 'desc';
}
