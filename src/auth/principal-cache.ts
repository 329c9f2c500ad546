import type { Principal } from '../api/role.js';

/** A resolved bearer token as the cache keeps it. */
export interface CachedPrincipal {
  principal: Principal;
  /** When the token expires (ms since the epoch), or null when it never does. */
  expiresAtMs: number | null;
  /** The token's `last_used_at` as the store now holds it (ms since the epoch), or null when never written. */
  lastUsedMs: number | null;
}

/**
 * Principals of bearer tokens in memory, keyed by the token's hash (never the
 * token), so that an API request does not read the store (issue 17). Exact
 * only while every change to tokens and users reaches `changed`: the token and
 * user services call it after each revocation, logout, user change or delete
 * commits, and on PostgreSQL so does the notification of such a change
 * committed by another controller (`live` is true only while that listener is
 * connected: without it nothing is kept or served). A lookup that overlapped a
 * change is not kept (it may have read before the change). An entry is served
 * for at most `maxAgeMs`, never at or after its token's expiry, and never once
 * its `last_used_at` is a minute old (that lookup goes to the store, which
 * writes it). Bounded by `maxEntries`, oldest out first.
 */
export function createPrincipalCache(opts: {
  now: () => number;
  maxEntries?: number;
  maxAgeMs?: number;
  live?: boolean;
}) {
  const maxEntries = opts.maxEntries ?? 1024;
  const maxAgeMs = opts.maxAgeMs ?? 30_000;
  const entries = new Map<string, CachedPrincipal & { cachedMs: number }>();
  let generation = 0;
  let live = opts.live ?? true;

  const clear = () => {
    generation++;
    entries.clear();
  };

  return {
    /** The cached principal of the token whose hash is `hash`, or undefined (then read the store). */
    get(hash: string): Principal | undefined {
      if (!live) return undefined;
      const e = entries.get(hash);
      if (e === undefined) return undefined;
      const t = opts.now();
      if (
        t - e.cachedMs >= maxAgeMs ||
        (e.expiresAtMs !== null && t >= e.expiresAtMs) ||
        e.lastUsedMs === null ||
        t - e.lastUsedMs > LAST_USED_EVERY_MS
      ) {
        entries.delete(hash);
        return undefined;
      }
      return e.principal;
    },
    /** The generation to pass to `put`: take it before reading the store. */
    begin(): number {
      return generation;
    },
    /** Keeps what a store lookup begun at `since` found, unless a change came in between. */
    put(hash: string, since: number, value: CachedPrincipal): void {
      if (!live || since !== generation) return;
      if (entries.size >= maxEntries && !entries.has(hash)) entries.delete(entries.keys().next().value!);
      entries.set(hash, { ...value, principal: Object.freeze({ ...value.principal }), cachedMs: opts.now() });
    },
    /** A token or user changed (here or, on PostgreSQL, through another controller): forget every principal. */
    changed(): void {
      clear();
    },
    /** Whether the cache may keep and serve principals; both switches start from empty. */
    setLive(on: boolean): void {
      live = on;
      clear();
    },
    /** Entries now kept (tests). */
    size(): number {
      return entries.size;
    },
  };
}

/** `last_used_at` is written at most this often per token (ms); a cache hit never writes it. */
export const LAST_USED_EVERY_MS = 60_000;
