/**
 * API roles, weakest first: viewer reads; labeler also sets and removes one
 * label of a host (what a hook writes back, docs/hooks.md); operator changes
 * hosts and power; admin also manages tokens, users and hooks.
 */
export const roles = ['viewer', 'labeler', 'operator', 'admin'] as const;
export type Role = (typeof roles)[number];

/**
 * What a route requires: `public` (only health and boot files firmware fetches),
 * `node` (a node credential), `member` (another controller of the store, over
 * HTTPS: src/cluster/member-credential.ts), or at least the given role.
 */
export type Access = 'public' | 'node' | 'member' | Role;

/** True when `have` is at least as strong as `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return roles.indexOf(have) >= roles.indexOf(need);
}

/** Who made a request: an API token or user (with a role), or a node (with its host id). */
export type Principal =
  | { kind: 'token'; id: string; name: string; role: Role }
  | { kind: 'user'; id: string; name: string; role: Role }
  | { kind: 'node'; hostId: string; hostName: string };

/** The actor string recorded in events for a principal. */
export function actorOf(p: Principal | undefined): string {
  if (!p) return 'anonymous';
  return p.kind === 'node' ? `node:${p.hostName}` : `${p.kind}:${p.name}`;
}
