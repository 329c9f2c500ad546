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
 * In-memory sliding window of failed logins per source (the client IP).
 * Successes never reset a counter: neither the source's own (an attacker
 * holding one valid account could otherwise interleave it) nor another's.
 * Per controller process; several controllers each count separately.
 */
export function createLoginLimiter(deps: { now?: () => number; limit?: Partial<LoginLimitConfig> } = {}) {
  const now = deps.now ?? Date.now;
  const limit: LoginLimitConfig = { ...defaultLoginLimit, ...deps.limit };
  const failures = new Map<string, number[]>();

  const recent = (source: string, t: number): number[] => {
    const list = (failures.get(source) ?? []).filter((x) => x > t - limit.windowMs);
    if (list.length) failures.set(source, list);
    else failures.delete(source);
    return list;
  };

  return {
    limit,
    /** Seconds to wait before `source` may try again, or 0 when it may try now. */
    retryAfter(source: string): number {
      const t = now();
      const list = recent(source, t);
      if (list.length < limit.maxFailures) return 0;
      // The window frees a slot when the oldest failure that still counts leaves it.
      const oldest = list[list.length - limit.maxFailures];
      return Math.max(1, Math.ceil((oldest + limit.windowMs - t) / 1000));
    },
    /** Records one failed attempt from `source`. */
    fail(source: string): void {
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

/** The login limiter's type. */
export type LoginLimiter = ReturnType<typeof createLoginLimiter>;
