/**
 * debian-installer's udebs in the subset (main/debian-installer). anna, d-i's
 * package loader, takes module udebs only for the kernel ABI of the initrd it
 * runs (`<kind>-modules-<abi>-di`, `kernel-image-<abi>-di`); the mirror may
 * carry newer kernels than the installer package. The subset takes every udeb
 * that is not built for another ABI: the ones for the initrd's ABI and every
 * ABI-less udeb (partman, base-installer, grub-installer, …), since which of
 * them anna loads depends on the preseed and the hardware. Pure.
 */

/** One stanza of a Packages index, the fields the repo reads. */
export interface IndexEntry {
  name: string;
  version: string;
  arch: string;
  priority: string;
  section: string;
  filename: string;
  size: number;
}

/** Reads a Packages index's stanzas. Pure. */
export function indexEntries(text: string): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1]?.trim() ?? '';
    const name = field('Package');
    if (!name) continue;
    out.push({
      name,
      version: field('Version'),
      arch: field('Architecture'),
      priority: field('Priority'),
      section: field('Section'),
      filename: field('Filename'),
      size: Number(field('Size') || 0),
    });
  }
  return out;
}

/** The kernel ABI a udeb is built for (`ext4-modules-6.1.0-50-amd64-di` → `6.1.0-50-amd64`), or null. Pure. */
export function udebKernelAbi(name: string): string | null {
  return /-(\d+\.\d+\.\d+-\d+(?:-[a-z0-9]+)+)-di$/.exec(name)?.[1] ?? null;
}

/** The udebs the subset takes for an initrd of kernel ABI `abi`: every one not built for another ABI. Pure. */
export function selectUdebs(entries: readonly IndexEntry[], abi: string): IndexEntry[] {
  return entries.filter((e) => {
    const a = udebKernelAbi(e.name);
    return a === null || a === abi;
  });
}

/** The kernel ABIs an index carries kernels for (`kernel-image-<abi>-di`), sorted. Pure. */
export function kernelAbis(entries: readonly IndexEntry[]): string[] {
  return [...new Set(entries.flatMap((e) => (e.name.startsWith('kernel-image-') ? [udebKernelAbi(e.name) ?? ''] : [])))]
    .filter(Boolean)
    .sort();
}

/**
 * What the subset's udebs lack for an initrd of kernel ABI `abi`: a kernel for that ABI (anna refuses module
 * udebs of another ABI, so a mismatch leaves d-i without drivers), and every udeb the sync wanted (`wanted`,
 * names) that the published index does not carry. Pure.
 */
export function udebProblems(
  published: readonly IndexEntry[],
  abi: string,
  wanted: readonly string[],
): { missing: string[]; problems: string[] } {
  const problems: string[] = [];
  const abis = kernelAbis(published);
  if (!abis.includes(abi))
    problems.push(
      `kernel ABI mismatch: the netboot initrd is ${abi}, the subset's udebs carry ${abis.join(', ') || 'no kernel'}`,
    );
  const names = new Set(published.map((e) => e.name));
  const missing = wanted.filter((n) => !names.has(n)).sort();
  return { missing, problems };
}
