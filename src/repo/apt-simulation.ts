/**
 * What `apt-get -s install …` says, read into values (pure). apt's resolver
 * does the work; this only reads its answer: the packages it would install
 * (`Inst name (version release [arch])`) and, when it cannot, the unmet
 * dependencies it names (`pkg : Depends: dep (>= v) but it is not
 * installable`) and the names it cannot find (`E: Unable to locate package`).
 */

/** One package apt would install. */
export interface AptInstall {
  name: string;
  version: string;
  arch: string;
}

/** apt's answer: what it would install, or why not. */
export interface AptSimulation {
  installs: AptInstall[];
  /** apt's problem lines, trimmed (`hello : Depends: libc6 (>= 2.34) but it is not installable`, `E: …`). */
  problems: string[];
  /** Package names apt could not find or install: the dependency a problem line names, or the name it cannot locate. */
  missing: string[];
}

const INST = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([^\]]+)\]\)/;
// " hello : Depends: libc6 (>= 2.34) but it is not installable" and its continuation lines ("   Depends: …").
const UNMET = /^\s*(?:\S+ :)?\s*(?:Depends|Pre-Depends|PreDepends|Recommends): (\S+)(?: \([^)]*\))? but (.*)$/;
const NOT_FOUND = [
  /^E: Unable to locate package (\S+)/,
  /^E: Package '([^']+)' has no installation candidate/,
  /^E: Couldn't find any package by glob '([^']+)'/,
];

/** Parses the output (stdout and stderr together) of `apt-get -s install`. Pure. */
export function parseAptSimulation(text: string): AptSimulation {
  const installs: AptInstall[] = [];
  const problems: string[] = [];
  const missing = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    const inst = INST.exec(line);
    if (inst) {
      installs.push({ name: inst[1], version: inst[2], arch: inst[3] });
      continue;
    }
    const unmet = UNMET.exec(line);
    if (unmet) {
      problems.push(line.trim());
      if (/not installable|not going to be installed|is a virtual package/.test(unmet[2])) missing.add(unmet[1]);
      continue;
    }
    for (const re of NOT_FOUND) {
      const m = re.exec(line);
      if (m) missing.add(m[1]);
    }
    if (line.startsWith('E: ')) problems.push(line);
  }
  return { installs, problems, missing: [...missing] };
}

/** The name apt gives a package's file in its archives directory: `name_version_arch.deb`, an epoch's `:` as `%3a`. Pure. */
export function archiveFileName(p: AptInstall): string {
  return `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.arch}.deb`;
}

/** The name of the same file in a pool: the epoch dropped, as the archive names it. Pure. */
export function poolFileName(p: AptInstall): string {
  return `${p.name}_${p.version.replace(/^\d+:/, '')}_${p.arch}.deb`;
}
