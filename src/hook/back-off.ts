/** Retry settings of hook deliveries (`hooks.retry` in the config). */
export interface RetrySettings {
  /** Attempts in all, the first included; after the last failure the delivery is dead. */
  attempts: number;
  /** Delay before the second attempt, in seconds (before jitter). */
  baseSeconds: number;
  /** Longest delay between attempts, in seconds (before jitter). */
  maxSeconds: number;
}

/**
 * Milliseconds to wait after failed attempt number `attempt` (1-based):
 * exponential, `base · 2^(attempt-1)` capped at `max`, with "equal jitter"
 * (half fixed, half uniform random: `random()` in [0, 1)), so receivers that
 * fail together are not retried together, and a delay is never below half
 * its step. Null when no attempt is left: the delivery is dead.
 */
export function retryDelayMs(attempt: number, s: RetrySettings, random: () => number): number | null {
  if (attempt >= s.attempts) return null;
  const step = Math.min(s.maxSeconds, s.baseSeconds * 2 ** Math.min(attempt - 1, 40)) * 1000;
  return Math.round(step / 2 + (step / 2) * random());
}
