/**
 * Where the repo subset lives under the controller's data directory:
 *
 *   repo/apt/<suite>-<arch>/   private apt roots (upstream indexes), repo/check/ the check's
 *   repo/archives/             every .deb downloaded (apt's archives directory: a re-sync fetches only what is new)
 *   repo/udebs/                debian-installer's udebs downloaded; repo/udebs.<suite>.<arch>.json what the sync wanted
 *   repo/local/                operator packages (`kiln repo add`), kept across syncs
 *   repo/gnupg/                the signing key's GNUPGHOME (0700); gnupg/public.gpg its public key, registered in the store
 *   repo/peer-pool/            files of a peer's published subset, by SHA-256 (kiln repo sync --from-peer)
 *   repo/public/               served at /repo/: kiln-repo.gpg/.asc, debian/{dists,pool}, installer/; debian is a
 *                              symbolic link to the live debian-tree-<random>/ (swapped in one rename, publish-repo.ts)
 */
import { join } from 'node:path';

/** The repo's paths under `dataDir`. Pure. */
export function repoLayout(dataDir: string) {
  const root = join(dataDir, 'repo');
  const publicDir = join(root, 'public');
  return {
    root,
    aptDir: (suite: string, debArch: string) => join(root, 'apt', `${suite}-${debArch}`),
    checkDir: join(root, 'check'),
    archives: join(root, 'archives'),
    /** debian-installer's udebs, downloaded (kept across syncs like archives/). */
    udebArchives: join(root, 'udebs'),
    /** What the last sync wanted of a suite's udebs, and which the archive did not serve (`kiln repo check` reads it). */
    udebRecord: (suite: string, debArch: string) => join(root, `udebs.${suite}.${debArch}.json`),
    local: join(root, 'local'),
    gnupg: join(root, 'gnupg'),
    /** The repo key's public half as gpg exported it at the key's last use (repo-key.ts); what `kiln serve` registers. */
    ownPublicKey: join(root, 'gnupg', 'public.gpg'),
    /** Files taken from a peer's published subset, each named by its SHA-256, hard-linked into the published tree. */
    peerPool: join(root, 'peer-pool'),
    publicDir,
    archiveDir: join(publicDir, 'debian'),
    publicKey: join(publicDir, 'kiln-repo.gpg'),
    publicKeyArmored: join(publicDir, 'kiln-repo.asc'),
    installerDir: (profile: string) => join(publicDir, 'installer', profile),
  };
}

/** The layout's type. */
export type RepoLayout = ReturnType<typeof repoLayout>;

/**
 * A path in a published subset one member may ask another for (src/repo/peer-tree.ts): under `dists/` or `pool/`,
 * each part starting with a letter or digit (so no `..` and no hidden build directory), only the characters Debian
 * file names use.
 */
export const REPO_TREE_PATH = /^(dists|pool)(\/[A-Za-z0-9][A-Za-z0-9._+~-]{0,200}){1,8}$/;

/** URL paths under the controller's base URL (the `/repo/` served root). */
export const REPO_URL_PATH = '/repo';
/** The archive below it, as apt and debian-installer name a mirror directory. */
export const REPO_ARCHIVE_PATH = `${REPO_URL_PATH}/debian`;
