// Re-opening a boot server's socket that died (its device went away and came
// back, the descriptor was closed): a few attempts with growing pauses. What
// cannot be re-opened goes to the controller's one fatal channel.

/** Default pauses before each re-open attempt: about 15 s in all. */
export const REOPEN_DELAYS_MS: readonly number[] = [250, 500, 1000, 2000, 4000, 8000];

/**
 * Calls `open` after each pause in `delaysMs` until it succeeds; resolves
 * with what it opened, or null when `signal` aborts first (the server is
 * stopping). Rejects with the last error when every attempt failed.
 */
export async function reopenWithBackoff<T>(
  open: () => Promise<T>,
  opts: {
    delaysMs?: readonly number[];
    signal?: AbortSignal;
    onAttemptFailed?: (err: unknown, attempt: number) => void;
  },
): Promise<T | null> {
  const delays = opts.delaysMs ?? REOPEN_DELAYS_MS;
  let last: unknown = new Error('no attempt made');
  for (let attempt = 1; attempt <= delays.length; attempt++) {
    const aborted = await new Promise<boolean>((resolve) => {
      if (opts.signal?.aborted) {
        resolve(true);
        return;
      }
      const onAbort = () => {
        clearTimeout(t);
        resolve(true);
      };
      const t = setTimeout(
        () => {
          opts.signal?.removeEventListener('abort', onAbort);
          resolve(false);
        },
        delays[attempt - 1],
      );
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    if (aborted) return null;
    try {
      return await open();
    } catch (err) {
      last = err;
      opts.onAttemptFailed?.(err, attempt);
    }
  }
  throw last;
}
