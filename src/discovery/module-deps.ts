// Kernel module dependency resolution from depmod's modules.dep
// ("kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko ...").

/** modules.dep parsed: module file path → the paths it needs, and name → path. */
export interface ModuleIndex {
  deps: Map<string, string[]>;
  byName: Map<string, string>;
}

/** The module name of a path: basename without .ko[.xz|.zst|.gz], '-' folded to '_' (as the kernel does). */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** Parses modules.dep text; blank and malformed lines are skipped. */
export function parseModulesDep(text: string): ModuleIndex {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    deps.set(
      path,
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    );
    byName.set(moduleName(path), path);
  }
  return { deps, byName };
}

/**
 * The module paths needed to load `names` (each name and everything it depends
 * on, transitively), sorted. Names not in the index (built into the kernel or
 * absent from this kernel) are returned in `missing`, never thrown.
 */
export function resolveModules(index: ModuleIndex, names: readonly string[]): { paths: string[]; missing: string[] } {
  const seen = new Set<string>();
  const missing: string[] = [];
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const d of index.deps.get(path) ?? []) visit(d);
  };
  for (const name of names) {
    const path = index.byName.get(name.replace(/-/g, '_'));
    if (path === undefined) missing.push(name);
    else visit(path);
  }
  return { paths: [...seen].sort(), missing };
}
