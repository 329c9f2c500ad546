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
 * - `syncFromPeer(name)`: `kiln repo sync --from-peer` (peer-tree.ts).
 *
 * Both run one at a time on this member.
 */
import { readFile } from 'node:fs/promises';
import { silentLogger, type Logger } from '../log/logger.js';
import { KilnError } from '../error/kiln-error.js';
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
  let queue: Promise<unknown> = Promise.resolve();
  let syncing = false;
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

  return {
    /** Registers this member's key and republishes the key files and installer keyrings when the members' keys changed. */
    refresh: (): Promise<void> => serial(refreshNow),
    /**
     * Re-publishes the subset of the member named `name` (or, without a name, of the first running member with a
     * repo key) for the suites the profiles name, signed with this member's key. Throws `conflict` while one runs,
     * `not_found` for no such member or no profile with a repo, and the peer errors of peer-tree.ts.
     */
    async syncFromPeer(name?: string): Promise<PeerTreeReport> {
      if (syncing) throw new KilnError('conflict', 'a repo sync from a peer is running on this member; wait for it');
      syncing = true;
      try {
        return await serial(async () => {
          const peers = await deps.peers();
          const peer = name === undefined ? peers.find((p) => p.repoKey) : peers.find((p) => p.name === name);
          if (!peer)
            throw new KilnError(
              'not_found',
              name === undefined
                ? 'no other member running with HTTPS has a repo key: run `kiln repo sync` on one first'
                : `no other member named ${name} is running with HTTPS (kiln controller list)`,
            );
          const targets = repoTargets(deps.profiles(), () => 'unused:');
          if (targets.length === 0)
            throw new KilnError(
              'not_found',
              'no profile names a repo (profile.yaml `repo:` and `packages:`); nothing to sync',
            );
          const key = await openRepoKey(layout.gnupg);
          let report: PeerTreeReport;
          try {
            report = await syncTreeFromPeer({
              layout,
              suites: [...new Set(targets.map((t) => t.suite))],
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
        });
      } finally {
        syncing = false;
      }
    },
  };
}
