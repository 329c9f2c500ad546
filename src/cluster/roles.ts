// The singleton roles and member health: pure. Which work each role covers,
// and what stays per member, is docs/adr/0013-singletons-and-members.md.

/**
 * Work that runs on one controller of a store at a time:
 * - `power-poll`: the BMC power poller (`power.power-poll-interval`);
 * - `hook-delivery`: queueing, sending and pruning hook deliveries (hooks.enabled);
 * - `log-pruning`: pruning old boot sessions and observations (timeline retention);
 * - `silent-hosts`: `host.unreachable` for installed hosts whose heartbeats stopped, judged from the store;
 * - `boot-stalls`: `boot.stalled` for boot sessions past their stage deadline, judged from the store.
 * New roles go at the end: a role's lock key is its index.
 */
export const SINGLETON_ROLES = ['power-poll', 'hook-delivery', 'log-pruning', 'silent-hosts', 'boot-stalls'] as const;

/** One singleton role. */
export type SingletonRole = (typeof SINGLETON_ROLES)[number];

/**
 * The PostgreSQL session advisory lock key of a role: "kilnro" in ASCII in the
 * high six bytes and the role's index in the low two, so no key collides with
 * the event append lock ("kiln.evt", src/store/transaction.ts).
 */
export function roleLockKey(role: SingletonRole): bigint {
  return 0x6b696c6e726f0000n + BigInt(SINGLETON_ROLES.indexOf(role));
}

/** A member's health from its heartbeat: `stopped` after a clean stop, `unhealthy` once silent longer than `staleMs`. */
export type MemberHealth = 'healthy' | 'unhealthy' | 'stopped';

/** Health of a member whose last heartbeat was at `lastSeen` (ms), at `now` (ms). */
export function memberHealth(m: { lastSeen: number; stopped: boolean }, now: number, staleMs: number): MemberHealth {
  if (m.stopped) return 'stopped';
  return now - m.lastSeen > staleMs ? 'unhealthy' : 'healthy';
}
