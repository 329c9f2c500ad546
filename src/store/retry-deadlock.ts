/**
 * PostgreSQL aborts one of two transactions that wait on each other's row
 * locks with SQLSTATE 40P01 (deadlock_detected). Nothing of the aborted one
 * was committed, so running it again is safe and is what PostgreSQL's manual
 * advises ("the application can retry the transaction"): two controllers'
 * lease batches touching the same rows deadlocked this way in a boot storm.
 */
export const DEADLOCK_DETECTED = '40P01';

const isDeadlock = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === DEADLOCK_DETECTED;

/** Runs `fn` (one whole transaction) again when PostgreSQL chose it as a deadlock's victim, at most `attempts` times in all. */
export async function retryOnDeadlock<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isDeadlock(err) || i >= attempts) throw err;
    }
  }
}
