import type { ProfileSpec } from '../profile/profile-schema.js';
/**
 * What the repo domain reads of a profile (profile.yaml's `packages` and
 * `repo`), and the package sets it resolves: per profile, one per variant
 * (or one when it has none). Pure.
 */

/** A profile as the repo sees it. */
export interface RepoProfile {
  name: string;
  osVersion: string;
  installMethod: string;
  packages: readonly string[];
  repo: {
    upstream?: string | undefined;
    suite: string;
    debArch: string;
    variants?: Record<string, string[]> | undefined;
    mode?: 'subset' | 'full' | undefined;
    extraSuites?: { suite: string; upstream?: string | undefined }[] | undefined;
    udebs?: boolean | undefined;
  };
}

/** One install apt must be able to resolve: a profile's packages plus one variant's. */
export interface PackageSet {
  profile: string;
  variant: string;
  packages: string[];
}

/** Everything taken from one upstream suite and architecture. */
export interface RepoTarget {
  upstream: string;
  suite: string;
  debArch: string;
  sets: PackageSet[];
  /** Profiles installed by debian-installer from this target (their netboot files get Kiln's keyring). */
  installerProfiles: { name: string; osVersion: string }[];
  /** `full` when any profile of the target asks for the whole suite. */
  mode: 'subset' | 'full';
  /** Suites merged into the resolution (updates, security), each with its upstream. */
  extraSuites: { suite: string; upstream: string }[];
  /** Whether the target takes debian-installer's udebs (a preseed profile that does not turn them off). */
  udebs: boolean;
}

/** The package sets of one profile. Pure. */
export function packageSets(p: RepoProfile): PackageSet[] {
  const variants = Object.entries(p.repo.variants ?? {});
  if (variants.length === 0) return [{ profile: p.name, variant: 'default', packages: [...p.packages] }];
  return variants.map(([variant, extra]) => ({ profile: p.name, variant, packages: [...p.packages, ...extra] }));
}

/**
 * Groups the profiles that name a repo by suite and architecture; two upstreams for one suite are refused. A
 * profile without `repo.upstream` takes `defaultUpstream(suite)` (the controller's own apt mirror). Pure.
 */
export function repoTargets(
  profiles: readonly RepoProfile[],
  defaultUpstream: (suite: string) => string | undefined = () => undefined,
): RepoTarget[] {
  const byKey = new Map<string, RepoTarget>();
  for (const p of profiles) {
    const key = `${p.repo.suite}/${p.repo.debArch}`;
    const upstream = p.repo.upstream ?? defaultUpstream(p.repo.suite);
    if (!upstream)
      throw new Error(
        `profile ${p.name}: no upstream archive for suite ${p.repo.suite}: set repo.upstream in its profile.yaml, or add the suite to this machine's apt sources`,
      );
    let t = byKey.get(key);
    if (!t) {
      t = {
        upstream,
        suite: p.repo.suite,
        debArch: p.repo.debArch,
        sets: [],
        installerProfiles: [],
        mode: 'subset',
        extraSuites: [],
        udebs: false,
      };
      byKey.set(key, t);
    } else if (t.upstream !== upstream) {
      throw new Error(
        `profile ${p.name}: suite ${key} is taken from ${t.upstream} by another profile, not ${upstream}`,
      );
    }
    t.sets.push(...packageSets(p));
    if (p.repo.mode === 'full') t.mode = 'full';
    for (const x of p.repo.extraSuites ?? []) {
      const from = x.upstream ?? defaultUpstream(x.suite);
      if (!from)
        throw new Error(
          `profile ${p.name}: no upstream archive for suite ${x.suite}: set its upstream in repo.extraSuites, or add the suite to this machine's apt sources`,
        );
      const had = t.extraSuites.find((e) => e.suite === x.suite);
      if (had && had.upstream !== from)
        throw new Error(
          `profile ${p.name}: suite ${x.suite} is taken from ${had.upstream} by another profile, not ${from}`,
        );
      if (!had) t.extraSuites.push({ suite: x.suite, upstream: from });
    }
    if (p.installMethod === 'preseed') {
      t.installerProfiles.push({ name: p.name, osVersion: p.osVersion });
      if (p.repo.udebs !== false) t.udebs = true;
    }
  }
  return [...byKey.values()];
}

/** The profiles that name a repo (`repo:` and `packages:` in profile.yaml), as the repo sees them. Pure. */
export function repoProfilesOf(profiles: readonly { name: string; spec: ProfileSpec }[]): RepoProfile[] {
  return profiles.flatMap(({ name, spec }) =>
    spec.repo && spec.packages && spec.packages.length > 0
      ? [
          {
            name,
            osVersion: spec.os.version,
            installMethod: spec.install.method,
            packages: spec.packages,
            repo: spec.repo,
          },
        ]
      : [],
  );
}
