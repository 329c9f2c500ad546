/**
 * `kiln repo sync --from-peer`: this member re-publishes a peer member's
 * subset under its own signature (docs/adr/0017-repo-subset-between-members.md).
 * Per suite the profiles name: the peer's InRelease, verified with gpgv
 * against the peer's repo key from the store; every index its Release names,
 * kept only at the size and SHA-256 the Release gives; every package and
 * udeb those Packages indexes name, kept only at their size and SHA-256
 * (files already here by that SHA-256 are not fetched again). Then the same
 * Release text is signed with this member's own key and the tree swapped in.
 * Anything that does not verify stops the sync with nothing published
 * (`peer_signature_invalid`, `peer_content_invalid`, `peer_unavailable`), and
 * so does a peer Release dated before the one this member serves for that
 * suite (`peer_release_older`: no rollback).
 * The installer's netboot files come from this machine's own debian-installer
 * package, never from the peer (installer-files.ts).
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { hasCode, KilnError } from '../error/kiln-error.js';
import { keepVerifiedFile, type VerifiedFile } from '../runtime/verified-file.js';
import { installerKeyring, publishInstallers, type PublishedInstaller } from './installer-files.js';
import { parsePublicKeys } from './openpgp-keyring.js';
import { swapArchive } from './publish-repo.js';
import type { PublishedRelease } from './peer-sync-decision.js';
import { readPublishedReleases } from './published-releases.js';
import { parsePackagesIndex, parseRelease, type IndexedFile } from './release-file.js';
import { verifyInRelease } from './release-signature.js';
import type { RepoLayout } from './repo-layout.js';
import { writeRepoKeys, type RepoKey } from './repo-key.js';

/** A member a subset can be taken from: its `controllers` id and name, and its repo public key from the store. */
export interface RepoPeer {
  id: string;
  name: string;
  /** Binary OpenPGP public key; null while the member has registered none. */
  repoKey: Uint8Array | null;
  /** What it records serving (store, migration 0484): a hint for the background sync; absent or null: nothing. */
  releases?: readonly PublishedRelease[] | null;
}

/**
 * Fetches one file of `peer`'s published tree (a path under `dists/` or `pool/`) through `sink`, from that peer
 * alone; resolves with the peer's name, or null when it did not serve bytes the sink took (src/cluster/peer-fetch.ts).
 */
export type FetchRepoFile = (
  path: string,
  sink: (chunks: AsyncIterable<Uint8Array>) => Promise<void>,
  peer: string,
) => Promise<string | null>;

/** What one suite's re-publication took. */
export interface PeerSuite {
  suite: string;
  /** Index files (Packages, Packages.gz, …) the peer's Release names. */
  indexes: number;
  /** Package files (debs and udebs) its indexes name, and their bytes. */
  packages: number;
  bytes: number;
}

/** What a sync from a peer did. */
export interface PeerTreeReport {
  peer: string;
  /** The peer's repo key its InRelease verified with. */
  peerKey: string;
  suites: PeerSuite[];
  /** Package files fetched from the peer now (the rest were here by SHA-256 from an earlier sync). */
  fetched: number;
  fetchedBytes: number;
  installers: PublishedInstaller[];
  seconds: number;
}

/** Largest InRelease taken (a Debian suite's is under 100 KiB). */
const MAX_INRELEASE = 1 << 20;
/** Files fetched at once; the peer fetcher bounds its own concurrency too (cluster.peerFetchConcurrency). */
const WORKERS = 4;

/** Options of `syncTreeFromPeer`. */
export interface PeerTreeOptions {
  layout: RepoLayout;
  /** The suites this member's profiles name, each taken whole as the peer published it. */
  suites: readonly string[];
  /** debian-installer profiles: their netboot files are made here from Debian's package. */
  installerProfiles: readonly { name: string; osVersion: string; debArch: string }[];
  peer: RepoPeer;
  fetch: FetchRepoFile;
  /** This member's own repo key: it signs the re-published Release. */
  key: RepoKey;
  /** The other members' repo public keys, published after this member's own. */
  memberKeys: readonly Uint8Array[];
  installerImages: string;
  /** Keyrings appended after the members' keys in the installer's archive.gpg. */
  extraKeyrings: readonly string[];
  now?: () => number;
}

/** Re-publishes `peer`'s subset of `suites` under this member's key; throws (nothing published) on any check failing. */
export async function syncTreeFromPeer(o: PeerTreeOptions): Promise<PeerTreeReport> {
  const now = o.now ?? Date.now;
  const started = now();
  const { layout, peer } = o;
  if (!peer.repoKey)
    throw new KilnError(
      'peer_unavailable',
      `member ${peer.name} has no repo key in the store: run \`kiln repo sync\` there first (and restart an older Kiln)`,
    );
  const peerKey = parsePublicKeys(peer.repoKey)[0];
  const build = join(layout.publicDir, `.debian.peer-${randomBytes(4).toString('hex')}`);
  const verifyDir = join(layout.root, 'peer-verify');
  await mkdir(verifyDir, { recursive: true, mode: 0o700 });
  await mkdir(layout.peerPool, { recursive: true });
  await mkdir(build, { recursive: true });
  let swapped = false;
  try {
    // No rollback: a suite this member serves is replaced only by a Release dated the same or later.
    const served = await readPublishedReleases(layout);
    const fetchChecked = (path: string, want: VerifiedFile) => fetchInto(o, path, want);
    const suites: PeerSuite[] = [];
    const pool = new Map<string, IndexedFile>();
    for (const suite of o.suites) {
      const dist = join(build, 'dists', suite);
      const inRelease = await fetchText(o, `dists/${suite}/InRelease`);
      const what = `member ${peer.name}: dists/${suite}/InRelease`;
      const signedText = await verifyInRelease({
        inRelease,
        keyring: peerKey.bytes,
        fingerprint: peerKey.fingerprint,
        workDir: verifyDir,
        what,
      });
      // The line end before the signature belongs to the armor (RFC 4880 §7.1); the Release file ends with one.
      const text = signedText.endsWith('\n') ? signedText : `${signedText}\n`;
      const release = parseRelease(text, what);
      if (release.suite !== suite && release.codename !== suite)
        throw new KilnError(
          'peer_signature_invalid',
          `${what} is signed for suite ${release.suite || release.codename || '(none)'}, not ${suite}`,
        );
      const ours = served.get(suite);
      if (ours && (release.date === null || release.date < Date.parse(ours.date)))
        throw new KilnError(
          'peer_release_older',
          `${what} is dated ${release.date === null ? '(no Date)' : new Date(release.date).toISOString()}, older than the Release this member serves (${ours.date}); refused, nothing published`,
        );
      const mine = new Map<string, IndexedFile>();
      for (const f of release.files) {
        const final = join(dist, f.path);
        await mkdir(dirname(final), { recursive: true });
        await fetchChecked(`dists/${suite}/${f.path}`, { ...tmpBeside(final), size: f.size, sha256: f.sha256 });
        const index = /(^|\/)Packages(\.gz)?$/.exec(f.path);
        if (!index) continue;
        const bytes = await readFile(final);
        const entries = parsePackagesIndex(
          (index[2] ? gunzipSync(bytes) : bytes).toString('utf8'),
          `member ${peer.name}: dists/${suite}/${f.path}`,
        );
        for (const e of entries) {
          const had = pool.get(e.path);
          if (had && (had.sha256 !== e.sha256 || had.size !== e.size))
            throw new KilnError('peer_content_invalid', `member ${peer.name}: two indexes name ${e.path} differently`);
          pool.set(e.path, e);
          mine.set(e.path, e);
        }
      }
      // The peer's Release as it signed it, now signed by this member: apt and d-i verify it with this member's key.
      await writeFile(join(dist, 'Release'), text);
      await o.key.signRelease(join(dist, 'Release'), join(dist, 'InRelease'), join(dist, 'Release.gpg'));
      suites.push({
        suite,
        indexes: release.files.length,
        packages: mine.size,
        bytes: [...mine.values()].reduce((n, e) => n + e.size, 0),
      });
    }
    const got = await fetchPool(o, [...pool.values()], build);
    await writeRepoKeys(layout.publicKey, layout.publicKeyArmored, [o.key.publicKey, ...o.memberKeys]);
    await swapArchive(layout, build);
    swapped = true;
    await prunePool(layout.peerPool, new Set([...pool.values()].map((e) => e.sha256)));
    // The udeb names a sync from upstream wanted are that sync's; the peer's are not known here (docs/repo.md).
    for (const suite of o.suites) await removeUdebRecords(layout, suite);
    const installers = await publishInstallers(
      layout,
      o.installerProfiles,
      o.installerImages,
      await installerKeyring([o.key.publicKey, ...o.memberKeys], o.extraKeyrings),
    );
    return {
      peer: peer.name,
      peerKey: peerKey.fingerprint,
      suites,
      fetched: got.fetched,
      fetchedBytes: got.bytes,
      installers,
      seconds: (now() - started) / 1000,
    };
  } finally {
    if (!swapped) await rm(build, { recursive: true, force: true });
  }
}

const tmpBeside = (final: string) => ({
  final,
  tmp: join(dirname(final), `.${randomBytes(6).toString('hex')}.tmp`),
  what: final,
});

/** Fetches `path` from the peer into `want` (checked by keepVerifiedFile); throws the peer error that fits. */
async function fetchInto(o: PeerTreeOptions, path: string, want: VerifiedFile): Promise<void> {
  let failure: unknown = null;
  const got = await o.fetch(
    path,
    async (chunks) => {
      try {
        await keepVerifiedFile(chunks, { ...want, what: path });
      } catch (err) {
        failure = err;
        throw err;
      }
    },
    o.peer.id,
  );
  if (got !== null) return;
  if (hasCode(failure, 'validation_failed'))
    throw new KilnError(
      'peer_content_invalid',
      `member ${o.peer.name}: ${(failure as Error).message}, not the ${want.size} bytes with SHA-256 ${want.sha256} its signed index names; refused`,
    );
  if (failure) throw failure as Error; // a local failure (disk), not the peer's
  throw new KilnError('peer_unavailable', `member ${o.peer.name} did not serve ${path} (no answer, or not found)`);
}

/** A small file of the peer's tree as text (its InRelease), at most MAX_INRELEASE bytes. */
async function fetchText(o: PeerTreeOptions, path: string): Promise<string> {
  let text: string | null = null;
  const got = await o.fetch(
    path,
    async (chunks) => {
      const parts: Uint8Array[] = [];
      let n = 0;
      for await (const c of chunks) {
        n += c.length;
        if (n > MAX_INRELEASE) throw new KilnError('validation_failed', `${path}: over ${MAX_INRELEASE} bytes`);
        parts.push(c);
      }
      text = Buffer.concat(parts).toString('utf8');
    },
    o.peer.id,
  );
  if (got === null || text === null)
    throw new KilnError(
      'peer_unavailable',
      `member ${o.peer.name} did not serve ${path}: it has no published subset of that suite, or gave no answer`,
    );
  return text;
}

/**
 * Every package file into the pool (by SHA-256: one already there is not fetched again), then hard-linked at its
 * `Filename` in the new tree.
 */
async function fetchPool(
  o: PeerTreeOptions,
  files: readonly IndexedFile[],
  build: string,
): Promise<{ fetched: number; bytes: number }> {
  let fetched = 0;
  let bytes = 0;
  const queue = [...files];
  const one = async (e: IndexedFile) => {
    const kept = join(o.layout.peerPool, e.sha256);
    if ((await stat(kept).catch(() => null))?.size !== e.size) {
      await fetchInto(o, e.path, {
        final: kept,
        tmp: join(o.layout.peerPool, `.${e.sha256}.${randomBytes(4).toString('hex')}.tmp`),
        size: e.size,
        sha256: e.sha256,
        what: e.path,
      });
      fetched += 1;
      bytes += e.size;
    }
    const dest = join(build, e.path);
    await mkdir(dirname(dest), { recursive: true });
    await link(kept, dest);
  };
  let failed: unknown = null;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      for (let e = queue.shift(); e && !failed; e = queue.shift())
        await one(e).catch((err: unknown) => {
          failed ??= err;
        });
    }),
  );
  if (failed) throw failed as Error;
  return { fetched, bytes };
}

/** Removes pool files no published package names any more. */
async function prunePool(dir: string, keep: ReadonlySet<string>): Promise<void> {
  for (const n of await readdir(dir).catch(() => [] as string[]))
    if (/^[0-9a-f]{64}$/.test(n) && !keep.has(n)) await unlink(join(dir, n)).catch(() => undefined);
}

async function removeUdebRecords(layout: RepoLayout, suite: string): Promise<void> {
  for (const n of await readdir(layout.root).catch(() => [] as string[]))
    if (n.startsWith(`udebs.${suite}.`) && n.endsWith('.json')) await rm(join(layout.root, n), { force: true });
}
