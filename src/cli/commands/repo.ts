import type { Command } from '@commander-js/extra-typings';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';
import { loadProfiles } from '../../profile/load-profiles.js';
import { checkRepo } from '../../repo/check-repo.js';
import { repoLayout } from '../../repo/repo-layout.js';
import { repoProfilesOf } from '../../repo/repo-profile.js';
import type { PeerTreeReport } from '../../repo/peer-tree.js';
import { syncRepo } from '../../repo/sync-repo.js';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

type Env = Record<string, string | undefined>;
const dataDirOf = (opts: { dataDir?: string }, env: Env) => opts.dataDir ?? env['KILN_DATA_DIR'] ?? './kiln-data';
const profilesDirOf = (opts: { profilesDir?: string }, env: Env) =>
  opts.profilesDir ?? env['KILN_PROFILES_DIR'] ?? './profiles';
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

async function repoProfiles(dir: string) {
  const { profiles, errors } = await loadProfiles(dir);
  if (errors.length > 0) throw errors[0];
  return repoProfilesOf([...profiles.values()]);
}

/** How long `kiln repo sync --from-peer` waits for the controller's answer: a whole subset crosses the network. */
const PEER_SYNC_TIMEOUT_MS = 60 * 60 * 1000;

/** Human form of a sync from a peer. Pure. */
export function formatPeerSync(r: PeerTreeReport): string {
  return [
    `from ${r.peer} (its InRelease verified with its repo key ${r.peerKey}), re-signed with this member's key:`,
    formatTable(
      ['SUITE', 'INDEXES', 'PACKAGES', 'BYTES'],
      r.suites.map((s) => [s.suite, s.indexes, s.packages, mb(s.bytes)]),
    ),
    `${r.fetched} files fetched (${mb(r.fetchedBytes)}), the rest already here by SHA-256; ${r.seconds.toFixed(1)} s`,
    ...r.installers.map(
      (i) =>
        `installer ${i.profile}: ${i.kernel}, ${i.initrd} (every member's repo key appended; kernel ABI ${i.kernelAbi ?? 'unknown'})`,
    ),
  ].join('\n');
}

/**
 * `kiln repo sync|check|add`: the local package repository subset (repo/,
 * docs/repo.md). Like `kiln image add`, these run on the controller machine
 * and read and write the data directory (GET /api/v1/repo/check asks a running
 * controller). `sync --from-peer` asks the running controller (KILN_SERVER,
 * an admin token) to re-publish another member's subset: it holds the store
 * and the member credential.
 */
export function registerRepoCommands(program: Command, api: () => ApiClient, o: Output, env: Env): void {
  const repo = program
    .command('repo')
    .description('the package repository subset the profiles install from (served at /repo/)');
  repo
    .command('sync')
    .description("download every profile's packages with their dependency closure and publish the signed subset")
    .option('--data-dir <dir>', 'controller data directory (or KILN_DATA_DIR)')
    .option('--profiles-dir <dir>', 'profiles directory (or KILN_PROFILES_DIR; default ./profiles)')
    .option(
      '--from-peer [member]',
      "instead of upstream: the running controller (KILN_SERVER, admin token) re-publishes this member's subset (default: the first with a repo key), every file verified from its signed InRelease",
    )
    .option('--json', 'print JSON')
    .action(async (opts) => {
      if (opts.fromPeer !== undefined) {
        const r = await api().postLong<PeerTreeReport>(
          '/api/v1/repo/peer-sync',
          opts.fromPeer === true ? {} : { peer: opts.fromPeer },
          PEER_SYNC_TIMEOUT_MS,
        );
        emit(o, opts.json, r, () => formatPeerSync(r));
        return;
      }
      const suites = await syncRepo({
        dataDir: dataDirOf(opts, env),
        profiles: await repoProfiles(profilesDirOf(opts, env)),
      });
      emit(o, opts.json, suites, () =>
        [
          formatTable(
            ['SUITE', 'ARCH', 'PACKAGES', 'BYTES', 'NEW', 'NEW BYTES', 'SUITE PACKAGES', 'SUITE BYTES', 'SECONDS'],
            suites.map((s) => [
              s.suite,
              s.debArch,
              s.packages,
              mb(s.bytes),
              s.downloaded,
              mb(s.downloadedBytes),
              s.suitePackages,
              mb(s.suiteBytes),
              s.seconds.toFixed(1),
            ]),
          ),
          ...suites.flatMap((s) =>
            s.udebSync
              ? [
                  s.udebSync.kernelAbi
                    ? `udebs ${s.suite}/${s.debArch}: kernel ABI ${s.udebSync.kernelAbi}, ${s.udebs} of ${s.udebSync.wanted.length} published, ${s.udebSync.downloaded} new (${mb(s.udebSync.downloadedBytes)})${
                        s.udebSync.missing.length
                          ? `; upstream did not serve ${s.udebSync.missing.length}: ${s.udebSync.missing
                              .map((m) => `${m.url} (${m.reason})`)
                              .join(', ')}`
                          : ''
                      }`
                    : `udebs ${s.suite}/${s.debArch}: none (no debian-installer netboot package installed: its initrd names the kernel ABI)`,
                ]
              : [],
          ),
          ...suites.flatMap((s) =>
            s.installers.map(
              (i) =>
                `installer ${i.profile}: ${i.kernel}, ${i.initrd} (Kiln's keyring appended; kernel ABI ${i.kernelAbi ?? 'unknown'})`,
            ),
          ),
        ].join('\n'),
      );
    });
  repo
    .command('check')
    .description(
      "prove every profile's package set installs from the subset alone (apt simulation); exit 1 naming what is missing",
    )
    .option('--data-dir <dir>', 'controller data directory (or KILN_DATA_DIR)')
    .option('--profiles-dir <dir>', 'profiles directory (or KILN_PROFILES_DIR; default ./profiles)')
    .option(
      '--url <url>',
      'check the subset at this URL (e.g. http://kiln:8080/repo/debian) instead of the data directory',
    )
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const r = await checkRepo({
        dataDir: dataDirOf(opts, env),
        profiles: await repoProfiles(profilesDirOf(opts, env)),
        ...(opts.url ? { url: opts.url } : {}),
      });
      emit(o, opts.json, r, () =>
        formatTable(
          ['PROFILE', 'VARIANT', 'SUITE', 'OK', 'PACKAGES', 'MISSING'],
          r.sets.map((s) => [
            s.profile,
            s.variant,
            s.suite,
            s.ok ? 'yes' : 'no',
            s.packages,
            s.missing.join(' ') || (s.ok ? '-' : s.problems.join('; ')),
          ]),
        ),
      );
      if (!r.ok) {
        const bad = r.sets.filter((s) => !s.ok);
        // A plain error: exit 1, an operation that failed (exit-codes.ts).
        throw new Error(
          `the repo subset cannot install ${bad.map((s) => `${s.profile}/${s.variant}${s.missing.length ? ` (missing ${s.missing.join(', ')})` : ''}`).join(', ')}; run \`kiln repo sync\``,
        );
      }
    });
  repo
    .command('add')
    .description('add an operator package (.deb) to the subset: kept across syncs, published at the next sync')
    .argument('<file>')
    .option('--data-dir <dir>', 'controller data directory (or KILN_DATA_DIR)')
    .action(async (file, opts) => {
      if (!file.endsWith('.deb')) throw new KilnError('validation_failed', `${file}: not a .deb file`);
      const dir = repoLayout(dataDirOf(opts, env)).local;
      await mkdir(dir, { recursive: true });
      await copyFile(file, join(dir, basename(file)));
      o.out(`added ${basename(file)} to ${dir}; run \`kiln repo sync\` to publish it`);
    });
}
