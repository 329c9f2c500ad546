/**
 * The repo subset on a member of a shared store (docs/repo.md, "Members";
 * ADR 0017), run by `kiln serve`:
 *
 * - `refresh()` (at start and every cluster heartbeat): registers this
 *   member's repo public key in the store once `kiln repo sync` made one
 *   (`repo/gnupg/public.gpg`, checked to hold no secret key material), and
 *   keeps what the published tree serves to trust in step with the store:
 *   `/repo/kiln-repo.gpg` and `.asc` and the installers' keyrings carry every
 *   member's key, this member's first. A member that joins with a key reaches
 *   every member's installers within a heartbeat, as its CA reaches `ca.pem`.
 *   It also records in the store what the published tree serves (per suite,
 *   the Release's Date and SHA-256), and, with `background` (cluster.repoSync),
 *   takes a peer's newer subset by itself (peer-sync-decision.ts decides;
 *   failures are retried with back-off, a bounded number of times per peer
 *   publication, and logged with their error code).
 * - `syncFromPeer(name)`: `kiln repo sync --from-peer` (peer-tree.ts).
 *
 * All run one at a time on this member; a sync of either kind refuses to start
 * while another runs.
 */
import { readFile } from 'node:fs/promises';
import { silentLogger, type Logger } from '../log/logger.js';
import { KilnError } from '../error/kiln-error.js';
import {
  backoffMs,
  decidePeerSync,
  formatReleasesRecord,
  MAX_SYNC_ATTEMPTS,
  recordKeyOf,
  type SyncAttempt,
} from './peer-sync-decision.js';
import { readPublishedReleases } from './published-releases.js';
import { installerKeyring, publishInstallers } from './installer-files.js';
import { parsePublicKeys } from './openpgp-keyring.js';
import { syncTreeFromPeer, type FetchRepoFile, type PeerTreeReport, type RepoPeer } from './peer-tree.js';
import { repoLayout } from './repo-layout.js';
import { openRepoKey, writeRepoKeys } from './repo-key.js';
import { repoTargets, type RepoProfile } from './repo-profile.js';
import { DEBIAN_ARCHIVE_KEYRING } from './sync-repo.js';

/** A member's repo key as the store holds it (src/cluster/member-trust.ts `repoKeys()`). */
export interface StoredRepoKey {
  name: string;
  fingerprint: string;
  publicKey: Uint8Array;
  self: boolean;
}

/** Creates the service for the repo under `dataDir`. */
export function createRepoMembers(deps: {
  dataDir: string;
  /** The profiles that name a repo now (the controller's profiles). */
  profiles: () => readonly RepoProfile[];
  /** The members running now with HTTPS, each with its repo key from the store (read at each call). */
  peers: () => Promise<RepoPeer[]>;
  fetch: FetchRepoFile;
  /** Every member's registered repo key (cached by the member trust; this member's marked `self`). */
  storedKeys: () => readonly StoredRepoKey[];
  /** Writes this member's key to the store when it is not there yet; true when it wrote. */
  registerOwn: (key: { fingerprint: string; publicKey: Uint8Array }) => Promise<boolean>;
  /** Writes what this member's published tree serves (JSON, peer-sync-decision.ts) when it changed; true when it wrote. */
  registerReleases: (record: string) => Promise<boolean>;
  /** Take a peer's newer subset at each refresh, without being asked (cluster.repoSync). @default false */
  background?: boolean;
  now?: () => number;
  /** @default /usr/lib/debian-installer/images */
  installerImages?: string;
  /** @default the Debian archive keyring */
  extraKeyrings?: readonly string[];
  log?: Logger;
}) {
  const layout = repoLayout(deps.dataDir);
  const log = deps.log ?? silentLogger;
  const images = deps.installerImages ?? '/usr/lib/debian-installer/images';
  const extra = deps.extraKeyrings ?? [DEBIAN_ARCHIVE_KEYRING];
  const now = deps.now ?? Date.now;
  let queue: Promise<unknown> = Promise.resolve();
  let syncing = false;
  /** Failed background syncs per peer publication (peer-sync-decision.ts `recordKeyOf`); only current ones are kept. */
  const attempts = new Map<string, SyncAttempt>();
  const warned = new Set<string>();
  /** One at a time: a refresh never rewrites the key files in the middle of a sync's publication. */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const installerProfiles = () =>
    repoTargets(deps.profiles(), () => 'unused:').flatMap((t) =>
      t.installerProfiles.map((p) => ({ ...p, debArch: t.debArch })),
    );

  /** The other members' keys that parse as public keys (a bad row is skipped, logged once). */
  function otherKeys(own: string): Uint8Array[] {
    return deps.storedKeys().flatMap((k) => {
      if (k.self || k.fingerprint === own) return [];
      try {
        const [parsed] = parsePublicKeys(k.publicKey);
        if (parsed?.fingerprint === k.fingerprint) return [k.publicKey];
        throw new Error(`its fingerprint is ${parsed?.fingerprint}, not ${k.fingerprint}`);
      } catch (err) {
        if (!warned.has(k.fingerprint))
          log.warn({ member: k.name, err: (err as Error).message }, "repo: a member's stored repo key is not used");
        warned.add(k.fingerprint);
        return [];
      }
    });
  }

  async function refreshNow(): Promise<void> {
    const own = await readFile(layout.ownPublicKey).catch(() => null);
    if (!own) return; // no repo key yet: this member publishes nothing
    const [key] = parsePublicKeys(own);
    if (!key) return;
    await deps.registerOwn({ fingerprint: key.fingerprint, publicKey: key.bytes });
    const releases = await readPublishedReleases(layout);
    if (releases.size > 0 && (await deps.registerReleases(formatReleasesRecord([...releases.values()]))))
      log.info({ suites: [...releases.values()] }, "repo: recorded this member's published subset in the store");
    const others = otherKeys(key.fingerprint);
    const want = Buffer.concat([key.bytes, ...others]);
    const served = await readFile(layout.publicKey).catch(() => null);
    if (!served || served.equals(want)) return; // nothing published yet, or up to date
    // The installers first: the key files are what the next refresh compares, so a failure here is tried again.
    const installers = await publishInstallers(
      layout,
      installerProfiles(),
      images,
      await installerKeyring([key.bytes, ...others], extra),
    );
    await writeRepoKeys(layout.publicKey, layout.publicKeyArmored, [key.bytes, ...others]);
    log.info(
      { keys: 1 + others.length, installers: installers.map((i) => i.profile) },
      "repo: the published keys and installer keyrings now carry every member's repo key",
    );
  }

  const suitesOf = () => [...new Set(repoTargets(deps.profiles(), () => 'unused:').map((t) => t.suite))];

  /** One sync from a peer (or the first running one with a key), inside the serial queue. */
  async function syncNow(name: string | undefined): Promise<PeerTreeReport> {
    const peers = await deps.peers();
    const peer = name === undefined ? peers.find((p) => p.repoKey) : peers.find((p) => p.name === name);
    if (!peer)
      throw new KilnError(
        'not_found',
        name === undefined
          ? 'no other member running with HTTPS has a repo key: run `kiln repo sync` on one first'
          : `no other member named ${name} is running with HTTPS (kiln controller list)`,
      );
    const suites = suitesOf();
    if (suites.length === 0)
      throw new KilnError(
        'not_found',
        'no profile names a repo (profile.yaml `repo:` and `packages:`); nothing to sync',
      );
    const key = await openRepoKey(layout.gnupg);
    let report: PeerTreeReport;
    try {
      report = await syncTreeFromPeer({
        layout,
        suites,
        installerProfiles: installerProfiles(),
        peer,
        fetch: deps.fetch,
        key,
        memberKeys: otherKeys(key.fingerprint),
        installerImages: images,
        extraKeyrings: extra,
      });
    } finally {
      await key.close();
    }
    log.info(
      { peer: report.peer, suites: report.suites, fetched: report.fetched, seconds: report.seconds },
      "repo: re-published a peer's subset under this member's key",
    );
    await refreshNow();
    return report;
  }

  /** Runs `fn` as this member's one sync; `null` when another runs (the caller decides whether that is an error). */
  async function asOneSync<T>(fn: () => Promise<T>): Promise<T | null> {
    if (syncing) return null;
    syncing = true;
    try {
      return await serial(fn);
    } finally {
      syncing = false;
    }
  }

  /** The background sync's turn: decide (peer-sync-decision.ts), sync at most once, record a failure's back-off. */
  async function syncInBackground(): Promise<void> {
    const suites = suitesOf();
    if (!deps.background || syncing || suites.length === 0) return;
    const peers = await deps.peers();
    const current = new Set(peers.flatMap((p) => (p.releases ? [recordKeyOf(p.name, p.releases)] : [])));
    for (const k of [...attempts.keys()]) if (!current.has(k)) attempts.delete(k); // the peer published anew, or left
    const decision = decidePeerSync({
      suites,
      local: await readPublishedReleases(layout),
      peers: peers.map((p) => ({ name: p.name, hasKey: p.repoKey !== null, releases: p.releases ?? null })),
      attempts,
      now: now(),
    });
    if (decision.action === 'none') return;
    try {
      if ((await asOneSync(() => syncNow(decision.peer))) === null) return; // an explicit sync started meanwhile
      attempts.delete(decision.recordKey);
    } catch (err) {
      const failures = (attempts.get(decision.recordKey)?.failures ?? 0) + 1;
      const wait = backoffMs(failures);
      attempts.set(decision.recordKey, { failures, nextAt: now() + wait });
      const fields = {
        peer: decision.peer,
        code: err instanceof KilnError ? err.code : 'internal',
        failures,
        err: (err as Error).message,
      };
      if (failures >= MAX_SYNC_ATTEMPTS)
        log.error(
          fields,
          "repo: gave up taking this peer's subset in the background until it publishes another; fix the cause, then `kiln repo sync --from-peer`",
        );
      else
        log.warn({ ...fields, retryInSeconds: wait / 1000 }, "repo: taking a peer's subset in the background failed");
    }
  }

  return {
    /**
     * Registers this member's key and what its tree serves, republishes the key files and installer keyrings when the
     * members' keys changed, then (cluster.repoSync) takes a peer's newer subset when there is one. Called at start
     * and every heartbeat; resolves when that is done (a background sync is bounded by the peer fetch's bounds).
     */
    async refresh(): Promise<void> {
      await serial(refreshNow);
      await syncInBackground();
    },
    /**
     * Re-publishes the subset of the member named `name` (or, without a name, of the first running member with a
     * repo key) for the suites the profiles name, signed with this member's key. Throws `conflict` while a sync
     * runs, `not_found` for no such member or no profile with a repo, `peer_release_older` when the peer's Release
     * is older than this member's, and the peer errors of peer-tree.ts.
     */
    async syncFromPeer(name?: string): Promise<PeerTreeReport> {
      const report = await asOneSync(() => syncNow(name));
      if (!report) throw new KilnError('conflict', 'a repo sync from a peer is running on this member; wait for it');
      return report;
    },
  };
}
