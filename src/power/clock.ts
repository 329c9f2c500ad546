/** Time as the power queue and poller see it; injected so tests can control stagger and intervals. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock (Date.now and setTimeout). */
/** Why a signal aborted, as the Error a sleep rejects with (abort() with no argument gives an AbortError, an Error). */
const abortReason = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new Error('aborted', { cause: signal.reason });

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      function onAbort(): void {
        clearTimeout(t);
        reject(abortReason(signal!));
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
