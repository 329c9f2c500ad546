import { fail, ok, type Check } from '../check.js';

/**
 * `store`: the store answers a query, and every migration this build knows
 * has been applied (a controller started against an older or newer schema
 * sees it here).
 */
export function storeCheck(o: {
  /** What the store is (`sqlite:/path`, `postgres://host/db`), for the detail line. */
  describe: string;
  /** Runs one trivial query; rejects when the store does not answer. */
  ping: () => Promise<void>;
  /** Migrations this build has that the store has not applied. */
  pending: () => Promise<string[]>;
}): Check {
  return {
    name: 'store',
    async run() {
      try {
        await o.ping();
      } catch (err) {
        return fail(
          `${o.describe} does not answer: ${(err as Error).message}`,
          'check that the database is running and reachable (database-url), then see the kiln serve log',
        );
      }
      const pending = await o.pending();
      if (pending.length > 0)
        return fail(
          `${o.describe} lacks migrations ${pending.join(', ')}`,
          'restart kiln serve: it applies pending migrations on start',
        );
      return ok(`${o.describe} answers; every migration applied`);
    },
  };
}
