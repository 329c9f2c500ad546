/** Which events a hook takes: any of `kinds` (kind prefixes such as `host.`, a whole kind, or `*` for every event), and when `hostId` is set, only that host's. */
export interface HookFilter {
  kinds: string[];
  hostId: string | null;
}

/** A hook made through the API: signed HTTP POSTs to `url`. The secret is never part of it. */
export interface HttpHook extends HookFilter {
  id: string;
  name: string;
  url: string;
  enabled: boolean;
  createdAt: string;
  createdBy: string;
}

/** Where a delivery ended on one attempt; `status` is the HTTP status or the program's exit code when there was one. */
export type AttemptResult = { ok: true; status: number | null } | { ok: false; status: number | null; error: string };

/** One delivery of one event to one hook, as the history shows it. */
export interface HookDelivery {
  /** The delivery id: the same on every attempt (receivers dedupe on it). */
  id: string;
  hookId: string;
  eventSeq: number;
  eventKind: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  /** Next attempt (pending) or the last one (delivered, dead). */
  nextAt: string;
  lastStatus: number | null;
  /** Kiln's own sentence for the last failure (never the receiver's body). */
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

/** True when `e` is one of the events `f` takes. */
export function hookMatches(f: HookFilter, e: { kind: string; hostId: string | null }): boolean {
  if (f.hostId !== null && e.hostId !== f.hostId) return false;
  return f.kinds.some((k) => k === '*' || e.kind.startsWith(k));
}
