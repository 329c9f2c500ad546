import { Type, type Static } from '@sinclair/typebox';

/** Schema of the `cluster:` section of the controller config (README, docs/cluster.md); every key has a default. */
export const ClusterConfigSchema = Type.Object({
  name: Type.String({
    minLength: 0,
    maxLength: 128,
    default: '',
    description: "This controller's name in `kiln controller list` (empty: the machine's host name and listen port).",
  }),
  heartbeatSeconds: Type.Integer({
    minimum: 1,
    maximum: 60,
    default: 2,
    description:
      "How often this controller writes its heartbeat (its row's last_seen) to the store, from a thread of its own.",
  }),
  electionMs: Type.Integer({
    minimum: 200,
    maximum: 10_000,
    default: 1000,
    description: 'How often this controller checks the singleton roles it holds and tries to take the free ones.',
  }),
  staleSeconds: Type.Integer({
    minimum: 2,
    maximum: 3600,
    default: 10,
    description: '`kiln controller list` shows a controller as unhealthy once its heartbeat is older than this.',
  }),
  peerFetchConcurrency: Type.Integer({
    minimum: 1,
    maximum: 64,
    default: 4,
    description:
      'How many objects, manifests, image records or tarballs this controller fetches from its peers at once (more wait their turn).',
  }),
  peerFetchMaxMiB: Type.Integer({
    minimum: 1,
    maximum: 65_536,
    default: 4096,
    description:
      'The largest object or image tarball a peer may send (MiB); a larger answer is refused and the next peer asked.',
  }),
  repoSync: Type.Boolean({
    default: true,
    description:
      "Whether this member takes a peer member's newer repo subset by itself (checked at every heartbeat; re-published under this member's key, never an older one). false: only `kiln repo sync --from-peer`.",
  }),
});

/** The cluster config slice. */
export type ClusterConfig = Static<typeof ClusterConfigSchema>;

/** The defaults of every cluster setting (what the schema fills in). */
export const defaultClusterConfig: ClusterConfig = {
  name: '',
  heartbeatSeconds: 2,
  electionMs: 1000,
  staleSeconds: 10,
  peerFetchConcurrency: 4,
  peerFetchMaxMiB: 4096,
  repoSync: true,
};
