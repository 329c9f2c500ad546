// Writer for the cpio "newc" format (SVR4 without CRC), the format the Linux
// kernel unpacks into its initramfs (Documentation/driver-api/early-userspace/
// buffer-format.rst). Pure: entries in, bytes out.
//
//   header (110 ASCII bytes): magic "070701" then 13 fields of 8 hex digits:
//   ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor
//   rdevminor namesize check
//   name (namesize bytes incl. NUL), padded so the data starts on 4 bytes
//   data (filesize bytes), padded to 4 bytes
// The archive ends with an entry named "TRAILER!!!".

/** One archive member. Paths are relative ("bin/busybox"), never with a leading slash. */
export type CpioEntry =
  | { kind: 'file'; path: string; mode: number; data: Uint8Array }
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; mode: number; major: number; minor: number };

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const encoder = new TextEncoder();

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(
  ino: number,
  mode: number,
  nlink: number,
  size: number,
  rdev: [number, number],
  nameSize: number,
): string {
  const fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], nameSize, 0];
  return '070701' + fields.map(hex8).join('');
}

function member(ino: number, entry: CpioEntry | { kind: 'trailer' }): Uint8Array[] {
  let mode = 0;
  let data: Uint8Array = new Uint8Array(0);
  let nlink = 1;
  let rdev: [number, number] = [0, 0];
  const path = entry.kind === 'trailer' ? 'TRAILER!!!' : entry.path;
  switch (entry.kind) {
    case 'file':
      mode = S_IFREG | entry.mode;
      data = entry.data;
      break;
    case 'dir':
      mode = S_IFDIR | entry.mode;
      nlink = 2;
      break;
    case 'symlink':
      mode = S_IFLNK | 0o777;
      data = encoder.encode(entry.target);
      break;
    case 'chardev':
      mode = S_IFCHR | entry.mode;
      rdev = [entry.major, entry.minor];
      break;
    case 'trailer':
      break;
  }
  const name = encoder.encode(path + '\0');
  const head = encoder.encode(header(entry.kind === 'trailer' ? 0 : ino, mode, nlink, data.length, rdev, name.length));
  return [head, name, new Uint8Array(pad4(head.length + name.length)), data, new Uint8Array(pad4(data.length))];
}

/**
 * Encodes `entries` in order (parents must precede children) followed by the
 * trailer. Owner is root, mtime is 0, so equal input gives equal bytes.
 */
export function encodeCpioNewc(entries: readonly CpioEntry[]): Uint8Array {
  for (const e of entries) {
    if (e.path.startsWith('/') || e.path === '') throw new RangeError(`cpio path must be relative: "${e.path}"`);
  }
  const parts = entries.flatMap((e, i) => member(i + 1, e)).concat(member(0, { kind: 'trailer' }));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
