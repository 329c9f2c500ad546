/**
 * Streams a tar archive: yields one entry at a time with its body as chunks,
 * after applying pax (`x`, `g`) and GNU long-name (`L`, `K`) records to the
 * header they precede. Memory stays bounded by the largest source chunk
 * (bodies are never buffered whole).
 */
import { KilnError } from '../../error/kiln-error.js';
import { decodePaxRecords, decodeTarHeader, isZeroBlock, paxText, TAR_BLOCK, type TarHeader } from './tar-header.js';

/** A member of the archive: its header with long names and pax values applied, and its xattrs (name → raw bytes). */
export interface TarEntry extends TarHeader {
  xattrs: Map<string, Uint8Array>;
}

/** Reads exact byte counts from an async chunk source. */
class ChunkReader {
  private buf: Uint8Array = new Uint8Array(0);
  private readonly it: AsyncIterator<Uint8Array>;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Fills the buffer to at least `n` bytes unless the source ends; false then. */
  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) this.buf = this.buf.length === 0 ? r.value : concat(this.buf, r.value);
    }
    return this.buf.length >= n;
  }

  /** Exactly `n` bytes, or null when the source ended first. */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.fill(n))) return null;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Ends the source early (a consumer that stopped reading). */
  async close(): Promise<void> {
    if (!this.done) await this.it.return?.();
  }

  /** Up to `max` bytes (at least one), or null at the end. */
  async some(max: number): Promise<Uint8Array | null> {
    if (!(await this.fill(1))) return null;
    const out = this.buf.subarray(0, Math.min(max, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

const padding = (size: number) => (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
const truncated = () => new KilnError('validation_failed', 'tar: archive ends inside an entry');

/** Pax keys Kiln applies; `GNU.sparse.*` (sparse files) is refused rather than written out wrong. */
function applyPax(h: TarEntry, pax: Map<string, Uint8Array>): void {
  for (const [key, value] of pax) {
    if (key.startsWith('SCHILY.xattr.')) h.xattrs.set(key.slice('SCHILY.xattr.'.length), value);
    else if (key.startsWith('GNU.sparse.'))
      throw new KilnError('validation_failed', `tar: ${h.name}: sparse files are not supported`);
    else if (key === 'path') h.name = paxText(value, key);
    else if (key === 'linkpath') h.linkname = paxText(value, key);
    else if (key === 'size' || key === 'uid' || key === 'gid' || key === 'mtime') {
      const n = Number(paxText(value, key));
      if (!Number.isFinite(n) || n < 0) throw new KilnError('validation_failed', `tar: pax ${key} is not a number`);
      h[key] = n;
    } else if (key === 'SCHILY.devmajor') h.devmajor = Number(paxText(value, key));
    else if (key === 'SCHILY.devminor') h.devminor = Number(paxText(value, key));
    // Other keys (atime, ctime, uname, gname, charset, comment, SCHILY.fflags…) carry nothing a root needs.
  }
}

/**
 * Yields each entry with its body. The consumer may stop reading a body
 * early; the rest is skipped before the next header. Throws `validation_failed`
 * on a corrupt or truncated archive.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<{ entry: TarEntry; body: AsyncGenerator<Uint8Array> }> {
  const r = new ChunkReader(source);
  try {
    yield* entries(r);
  } finally {
    await r.close();
  }
}

async function* entries(r: ChunkReader): AsyncGenerator<{ entry: TarEntry; body: AsyncGenerator<Uint8Array> }> {
  let globalPax = new Map<string, Uint8Array>();
  let nextPax = new Map<string, Uint8Array>();
  let longName: string | null = null;
  let longLink: string | null = null;
  for (;;) {
    const block = await r.read(TAR_BLOCK);
    // An archive may end without its two zero blocks (tar -r leftovers, some writers); a clean end is accepted.
    if (block === null || isZeroBlock(block)) return;
    const header = decodeTarHeader(block);
    if (['x', 'g', 'L', 'K'].includes(header.type)) {
      const body = await r.read(header.size + padding(header.size));
      if (body === null) throw truncated();
      const data = body.subarray(0, header.size);
      if (header.type === 'x') nextPax = decodePaxRecords(data);
      else if (header.type === 'g') globalPax = new Map([...globalPax, ...decodePaxRecords(data)]);
      else {
        const end = data.indexOf(0);
        const name = paxText(
          end === -1 ? data : data.subarray(0, end),
          header.type === 'L' ? 'long name' : 'long link',
        );
        if (header.type === 'L') longName = name;
        else longLink = name;
      }
      continue;
    }
    const entry: TarEntry = { ...header, xattrs: new Map() };
    if (longName !== null) entry.name = longName;
    if (longLink !== null) entry.linkname = longLink;
    applyPax(entry, globalPax);
    applyPax(entry, nextPax);
    nextPax = new Map();
    longName = longLink = null;
    // Only regular files carry a body; a hardlink's size field describes its target (POSIX: ignore it).
    const hasBody = ['0', '\0', '7'].includes(entry.type);
    let left = hasBody ? entry.size : 0;
    async function* body(): AsyncGenerator<Uint8Array> {
      while (left > 0) {
        const chunk = await r.some(Math.min(left, 1 << 20));
        if (chunk === null) throw truncated();
        left -= chunk.length;
        yield chunk;
      }
    }
    yield { entry, body: body() };
    while (left > 0) {
      const chunk = await r.some(Math.min(left, 1 << 20));
      if (chunk === null) throw truncated();
      left -= chunk.length;
    }
    if (hasBody && (await r.read(padding(entry.size))) === null) throw truncated();
  }
}
