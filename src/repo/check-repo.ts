/**
 * `kiln repo check`: proves every profile's package sets install from the
 * published subset alone. A private apt whose only source is the subset
 * (checked against Kiln's public key, no trusted=yes) runs `apt-get update`
 * and `apt-get -s install` per package set; a set that fails reports the
 * packages apt names as missing.
 */
import { access, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createAptRoot } from './apt-root.js';
import { parseAptSimulation } from './apt-simulation.js';
import { initrdKernelAbi } from './installer-keyring.js';
import { repoLayout, type RepoLayout } from './repo-layout.js';
import { repoTargets, type RepoProfile, type RepoTarget } from './repo-profile.js';
import type { UdebReport } from './sync-repo.js';
import { indexEntries, udebProblems } from './udebs.js';

/** One package set's verdict. */
export interface CheckedSet {
  profile: string;
  variant: string;
  suite: string;
  debArch: string;
  ok: boolean;
  /** Packages apt would install from the subset. */
  packages: number;
  /** Dependencies (or named packages) the subset lacks. */
  missing: string[];
  problems: string[];
}

/** The whole check. */
export interface RepoCheck {
  ok: boolean;
  sets: CheckedSet[];
}

/** Options of `checkRepo`. */
export interface CheckRepoOptions {
  dataDir: string;
  profiles: readonly RepoProfile[];
  /** The subset's URL (e.g. `http://kiln:8080/repo/debian`); default: the published directory as a `file:` URL. */
  url?: string;
  /** Where the check's private apt lives. @default <data>/repo/check */
  workDir?: string;
}

/**
 * A debian-installer profile's udebs, as its installer would find them: the subset's main/debian-installer index
 * (read by a private apt that verifies it against Kiln's key) must carry a kernel for the ABI of the initrd Kiln
 * serves, and every udeb the last sync wanted (repo/udebs.<suite>.<arch>.json: those upstream did not serve are
 * missing here).
 */
async function checkUdebs(t: RepoTarget, layout: RepoLayout, opts: CheckRepoOptions): Promise<CheckedSet[]> {
  const apt = await createAptRoot(join(opts.workDir ?? layout.checkDir, `${t.suite}-udeb-${t.debArch}`), [
    {
      url: opts.url ?? `file:${resolve(layout.archiveDir)}`,
      suite: t.suite,
      debArch: t.debArch,
      keyring: resolve(layout.publicKey),
      component: 'main/debian-installer',
    },
  ]);
  const update = await apt.aptGet(['update']);
  const updateProblems = update.output
    .split('\n')
    .filter((l) => /^(E|W): /.test(l))
    .map((l) => l.trim());
  const published =
    update.code === 0 && updateProblems.length === 0
      ? indexEntries((await apt.aptGet(['dumpavail'], { tool: 'apt-cache' })).stdout)
      : [];
  const record = await readFile(layout.udebRecord(t.suite, t.debArch), 'utf8').then(
    (x) => JSON.parse(x) as UdebReport,
    () => null,
  );
  const out: CheckedSet[] = [];
  for (const p of t.installerProfiles) {
    const initrd = await readFile(join(layout.installerDir(p.name), 'initrd.gz')).catch(() => null);
    const abi = initrd ? initrdKernelAbi(gunzipSync(initrd)) : null;
    const verdict = abi
      ? udebProblems(published, abi, record?.wanted ?? [])
      : {
          missing: [],
          problems: [
            `no netboot initrd published for ${p.name} (install debian-installer-${p.osVersion}-netboot-${t.debArch} and run \`kiln repo sync\`)`,
          ],
        };
    const problems = [...updateProblems, ...verdict.problems];
    out.push({
      profile: p.name,
      variant: 'udebs',
      suite: t.suite,
      debArch: t.debArch,
      ok: update.code === 0 && problems.length === 0 && verdict.missing.length === 0,
      packages: published.length,
      missing: verdict.missing,
      problems,
    });
  }
  return out;
}

/** Checks every package set of every profile that names a repo against the subset. */
export async function checkRepo(opts: CheckRepoOptions): Promise<RepoCheck> {
  const layout = repoLayout(opts.dataDir);
  const sets: CheckedSet[] = [];
  const published = await access(layout.publicKey).then(
    () => true,
    () => false,
  );
  // The check reads only the subset: a target's upstream is not used here.
  for (const t of repoTargets(opts.profiles, () => 'unused:')) {
    const fail = (problem: string) =>
      t.sets.map((s) => ({
        profile: s.profile,
        variant: s.variant,
        suite: t.suite,
        debArch: t.debArch,
        ok: false,
        packages: 0,
        missing: [],
        problems: [problem],
      }));
    if (!published) {
      sets.push(...fail(`no published repo in ${layout.publicDir}`));
      continue;
    }
    const apt = await createAptRoot(join(opts.workDir ?? layout.checkDir, `${t.suite}-${t.debArch}`), [
      {
        url: opts.url ?? `file:${resolve(layout.archiveDir)}`,
        suite: t.suite,
        debArch: t.debArch,
        keyring: resolve(layout.publicKey),
      },
    ]);
    const update = await apt.aptGet(['update']);
    if (update.code !== 0 || /^(E|W): /m.test(update.output)) {
      sets.push(
        ...fail(
          `apt-get update of the subset failed: ${
            update.output
              .trim()
              .split('\n')
              .filter((l) => /^(E|W): /.test(l))
              .join(' ') || update.output.trim().slice(-300)
          }`,
        ),
      );
      continue;
    }
    if (t.udebs) sets.push(...(await checkUdebs(t, layout, opts)));
    for (const s of t.sets) {
      const r = await apt.aptGet(['-s', 'install', ...s.packages]);
      const sim = parseAptSimulation(r.output);
      const ok = r.code === 0 && sim.problems.length === 0 && sim.missing.length === 0;
      sets.push({
        profile: s.profile,
        variant: s.variant,
        suite: t.suite,
        debArch: t.debArch,
        ok,
        packages: sim.installs.length,
        missing: sim.missing,
        problems: sim.problems,
      });
    }
  }
  return { ok: sets.every((s) => s.ok), sets };
}

/** The check as the controller's self-check reads it (kiln doctor): one line of detail and what to do. */
export async function repoSelfCheck(opts: CheckRepoOptions): Promise<{ ok: boolean; detail: string; fix: string }> {
  if (opts.profiles.length === 0) return { ok: true, detail: 'no profile names a repo subset', fix: '' };
  const r = await checkRepo(opts).catch((err: Error) => ({ ok: false, sets: [], error: err.message }));
  if ('error' in r && r.error)
    return {
      ok: false,
      detail: `repo check could not run: ${r.error}`,
      fix: 'install apt (Debian) and run `kiln repo sync`',
    };
  const bad = r.sets.filter((s) => !s.ok);
  if (bad.length === 0)
    return {
      ok: true,
      detail: `repo subset installs ${r.sets.map((s) => `${s.profile}/${s.variant} (${s.packages} packages)`).join(', ')}`,
      fix: '',
    };
  return {
    ok: false,
    detail: bad
      .map(
        (s) =>
          `${s.profile}/${s.variant}: ${s.missing.length ? `missing ${s.missing.join(', ')}` : s.problems.join('; ')}`,
      )
      .join('; '),
    fix: 'run `kiln repo sync` (add operator packages with `kiln repo add FILE.deb`)',
  };
}
