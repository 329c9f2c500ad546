// The other members' published loads (several members on one store; docs/power.md, "Several members"), for the
// admission control of batches run here. `now()` is synchronous (a batch samples every 250 ms): it returns what the
// last read found and starts the next read when the last is a second old, so the store is read at most once a
// second and only while batches sample.
import type { Logger } from '../log/logger.js';
import { parseMemberLoad, type MemberLoad } from './admission.js';

export interface PeerLoads {
  /** The other members' loads not older than `maxAgeMs`, as of the last read. */
  now(): Array<{ name: string; load: MemberLoad }>;
}

export function createPeerLoads(
  source: { read: () => Promise<Array<{ name: string; load: string | null }>>; maxAgeMs: number } | undefined,
  log: Logger,
  clock: () => number = Date.now,
): PeerLoads {
  if (!source) return { now: () => [] };
  let rows: Array<{ name: string; load: string | null }> = [];
  let readAt = -Infinity;
  let reading = false;
  let failing = false;
  return {
    now() {
      const t = clock();
      if (!reading && t - readAt >= 1000) {
        reading = true;
        source
          .read()
          .then(
            (r) => {
              rows = r;
              if (failing) log.info({}, "power: the other members' loads can be read again");
              failing = false;
            },
            (err: unknown) => {
              // What was read last ages out below (maxAgeMs): a batch then sees this member's data plane alone.
              if (!failing) log.warn({ err: (err as Error).message }, "power: reading the other members' loads failed");
              failing = true;
            },
          )
          .finally(() => {
            reading = false;
            readAt = clock();
          });
      }
      const out: Array<{ name: string; load: MemberLoad }> = [];
      for (const r of rows) {
        const load = parseMemberLoad(r.load, t, source.maxAgeMs);
        if (load) out.push({ name: r.name, load });
      }
      return out;
    },
  };
}
