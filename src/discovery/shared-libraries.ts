// Shared-library lists for binaries copied into an initramfs, read from `ldd`.

/**
 * Parses `ldd` output into the absolute paths of every library it resolved,
 * including the dynamic loader. Throws when a library is "not found", since a
 * binary missing one would fail on the node instead of here. Virtual objects
 * (linux-vdso) are skipped. An empty list means a static binary.
 */
export function parseLddOutput(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.includes('statically linked') || line.startsWith('linux-vdso')) continue;
    if (line.includes('=> not found')) throw new Error(`missing shared library: ${line}`);
    const arrow = line.match(/=>\s*(\/\S+)/);
    const direct = line.match(/^(\/\S+)/);
    const path = arrow?.[1] ?? direct?.[1];
    if (path !== undefined) out.push(path);
  }
  return [...new Set(out)];
}
