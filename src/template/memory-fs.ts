import type { FS } from 'liquidjs';

/**
 * A liquidjs file system over an in-memory map of virtual absolute paths
 * (`/snippets/x.sh`) to file text, so rendering never touches the disk.
 * A name with `/`, `\` or `..` never resolves: snippets are flat names.
 */
export function createMemoryFs(files: ReadonlyMap<string, string>): FS {
  const read = (p: string): string => {
    const text = files.get(p);
    if (text === undefined) throw new Error(`ENOENT: ${p}`);
    return text;
  };
  return {
    exists: async (p) => files.has(p),
    existsSync: (p) => files.has(p),
    readFile: async (p) => read(p),
    readFileSync: read,
    resolve: (dir, file) => (isFlatName(file) ? `${dir}/${file}` : `/invalid/${encodeURIComponent(file)}`),
    contains: async (root, file) => file.startsWith(`${root}/`),
    containsSync: (root, file) => file.startsWith(`${root}/`),
    sep: '/',
    dirname: (file) => file.slice(0, file.lastIndexOf('/')),
  };
}

/** True for a snippet name that stays inside its directory (no separators, no dot-dot). */
export function isFlatName(name: string): boolean {
  return (
    name.length > 0 &&
    !name.includes('/') &&
    !name.includes('\\') &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('\0')
  );
}
