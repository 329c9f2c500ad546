/**
 * A private apt: its own sources, lists, dpkg status (empty: nothing is
 * installed) and archives directory under one directory, so apt's own
 * resolver and downloader work for a suite and architecture other than the
 * machine's, without root and without touching the machine's apt (ADR 0011).
 * Signatures are apt's too: each source names its keyring (`signed-by`), and
 * apt-get update refuses an index whose InRelease does not verify.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { execTool } from '../process/run-tool.js';

/** One `deb` line: where, which suite, which component, checked against which keyring. */
export interface AptSource {
  url: string;
  suite: string;
  debArch: string;
  /** OpenPGP keyring (binary) that must have signed the suite's InRelease. */
  keyring: string;
  /** @default main (debian-installer's udebs: main/debian-installer) */
  component?: string;
}

/** A private apt under `dir`. */
export interface AptRoot {
  dir: string;
  /** Runs apt-get (or apt-cache) with the root's options; `archives` is the download directory (default: the root's own). */
  aptGet(
    args: readonly string[],
    opts?: { archives?: string; timeoutMs?: number; tool?: 'apt-get' | 'apt-cache' },
  ): Promise<{ code: number | null; output: string; stdout: string }>;
}

/** Creates (or reuses) the private apt root `dir` for `sources`. */
export async function createAptRoot(relDir: string, sources: readonly AptSource[]): Promise<AptRoot> {
  // apt reads Dir::* relative to Dir: a relative --data-dir would be taken twice.
  const dir = resolve(relDir);
  for (const d of [
    'etc/apt/apt.conf.d',
    'etc/apt/preferences.d',
    'etc/apt/trusted.gpg.d',
    'etc/apt/sources.list.d',
    'lists/partial',
    'archives/partial',
  ])
    await mkdir(join(dir, d), { recursive: true });
  await writeFile(join(dir, 'status'), '', { flag: 'a' });
  const lines = sources.map(
    (s) => `deb [arch=${s.debArch} signed-by=${s.keyring}] ${s.url} ${s.suite} ${s.component ?? 'main'}`,
  );
  await writeFile(join(dir, 'etc/apt/sources.list'), lines.join('\n') + '\n');
  const debArch = sources[0]?.debArch ?? 'amd64';
  const options = (archives: string) => [
    `Dir=${dir}`,
    `Dir::Etc=${join(dir, 'etc/apt')}`,
    `Dir::State::lists=${join(dir, 'lists')}`,
    `Dir::State::status=${join(dir, 'status')}`,
    `Dir::Cache=${join(dir, 'cache')}`,
    `Dir::Cache::archives=${archives}`,
    // Only the keyrings the sources name: none of the machine's trusted keys.
    `Dir::Etc::Trusted=${join(dir, 'etc/apt/trusted.gpg')}`,
    `Dir::Etc::TrustedParts=${join(dir, 'etc/apt/trusted.gpg.d')}`,
    `APT::Architecture=${debArch}`,
    `APT::Architectures::=${debArch}`,
    'Acquire::Languages=none',
    'Debug::NoLocking=1',
    // Downloads run as the invoking user (the data directory is not _apt's).
    'APT::Sandbox::User=root',
  ];
  return {
    dir,
    async aptGet(args, opts = {}) {
      const archives = opts.archives ?? join(dir, 'archives');
      await mkdir(join(archives, 'partial'), { recursive: true });
      const argv = [...options(archives).flatMap((o) => ['-o', o]), '-q', ...args];
      const tool = opts.tool ?? 'apt-get';
      const r = await execTool(tool, argv, {
        timeoutMs: opts.timeoutMs ?? 600_000,
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          LANG: 'C',
          LC_ALL: 'C',
          DEBIAN_FRONTEND: 'noninteractive',
        },
      }).catch((err: Error) => {
        throw new KilnError('internal', `${tool} could not run: ${err.message}; install apt (Debian)`);
      });
      if (r.timedOut) throw new KilnError('internal', `${tool} ${args.join(' ')} timed out`);
      return { code: r.code, output: `${r.stdout}\n${r.stderr}`, stdout: r.stdout };
    },
  };
}
