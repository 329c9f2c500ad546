import type { FailureCounter } from '../ratelimit/shared-limits.js';

/** How many failed logins a source may make in a sliding window. */
export interface LoginLimitConfig {
  /** @default 10 */
  maxFailures: number;
  /** @default 60_000 */
  windowMs: number;
  /** Sources remembered at most; the oldest is forgotten beyond this. @default 10_000 */
  maxSources: number;
}

/** Default: 10 failed logins per source per minute. */
export const defaultLoginLimit: LoginLimitConfig = { maxFailures: 10, windowMs: 60_000, maxSources: 10_000 };

/**
 * Failed logins per source (the client IP), for the API's /login, a password change and the web UI's login form.
 * Successes never reset a counter: neither the source's own (an attacker holding one valid account could
 * otherwise interleave it) nor another's. Async: on a shared store the count is in the store.
 */
export interface LoginLimiter {
  limit: LoginLimitConfig;
  /** Seconds to wait before `source` may try again, or 0 when it may try now. */
  retryAfter(source: string): Promise<number>;
  /** Records one failed attempt from `source`. */
  fail(source: string): Promise<void>;
}

/**
 * The login limiter. In memory, a sliding window per source in this controller process. With `shared` (several
 * controllers on one PostgreSQL store; src/ratelimit storeFailureCounter, its limit `maxFailures`), the failures are
 * counted in the store, in windows of one minute on the clock, so the limit holds in total across members
 * (docs/cluster.md, "Rate limits across members"); `windowMs` and `maxSources` are then not used.
 */
export function createLoginLimiter(
  deps: { now?: () => number; limit?: Partial<LoginLimitConfig>; shared?: FailureCounter } = {},
): LoginLimiter {
  const now = deps.now ?? Date.now;
  const limit: LoginLimitConfig = { ...defaultLoginLimit, ...deps.limit };
  if (deps.shared) {
    const shared = deps.shared;
    return { limit, retryAfter: (source) => shared.blocked(source), fail: (source) => shared.fail(source) };
  }
  const failures = new Map<string, number[]>();

  const recent = (source: string, t: number): number[] => {
    const list = (failures.get(source) ?? []).filter((x) => x > t - limit.windowMs);
    if (list.length) failures.set(source, list);
    else failures.delete(source);
    return list;
  };

  return {
    limit,
    async retryAfter(source) {
      const t = now();
      const list = recent(source, t);
      if (list.length < limit.maxFailures) return 0;
      // The window frees a slot when the oldest failure that still counts leaves it.
      const oldest = list[list.length - limit.maxFailures];
      return Math.max(1, Math.ceil((oldest + limit.windowMs - t) / 1000));
    },
    async fail(source) {
      const t = now();
      const list = recent(source, t);
      list.push(t);
      failures.delete(source);
      failures.set(source, list.slice(-limit.maxFailures));
      if (failures.size > limit.maxSources) {
        for (const key of failures.keys()) {
          if (failures.size <= limit.maxSources) break;
          failures.delete(key);
        }
      }
    },
  };
}
