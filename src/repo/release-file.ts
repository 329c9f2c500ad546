/**
 * The chain a Debian archive's signature covers, read into values: a Release
 * file names each index by SHA-256 and size (its `SHA256:` field), and each
 * Packages index names each package file by `Filename`, `Size` and `SHA256`
 * (Debian's "Repository Format": dists/$DIST/Release, binary-$arch/Packages).
 * A member re-publishing a peer's subset checks every file down this chain
 * from the InRelease it verified (peer-tree.ts). Malformed text or a path that
 * leaves the tree is refused with `peer_content_invalid`. Pure.
 */
import { KilnError } from '../error/kiln-error.js';
import { REPO_TREE_PATH } from './repo-layout.js';

/** One file a signed index names. */
export interface IndexedFile {
  /** Relative to the suite's `dists/<suite>/` (a Release entry) or to the archive root (a Packages `Filename`). */
  path: string;
  size: number;
  /** 64 lower-case hex digits. */
  sha256: string;
}

/** What a Release says. */
export interface ReleaseFile {
  suite: string;
  codename: string;
  /** Its `Date:` (RFC 2822, as apt-ftparchive writes it) in ms since the epoch; null when absent or unreadable. */
  date: number | null;
  /** The `SHA256:` entries. */
  files: IndexedFile[];
}

const invalid = (what: string, why: string) => new KilnError('peer_content_invalid', `${what}: ${why}`);

/** A Release entry's path: parts starting with a letter or digit, at most 8 of them. */
const RELEASE_PATH = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,200}(\/[A-Za-z0-9][A-Za-z0-9._+~-]{0,200}){0,7}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** The fields of one deb822 paragraph; a multi-line field's value keeps its lines (the first, often empty, too). */
function fieldsOf(paragraph: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let last: string[] | null = null;
  for (const line of paragraph.split('\n')) {
    if (line === '') continue;
    const field = /^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(.*)$/.exec(line);
    if (field) {
      last = [field[2].trimEnd()];
      out.set(field[1].toLowerCase(), last);
    } else if (/^[ \t]/.test(line) && last) last.push(line.trim());
  }
  return out;
}

/** Reads a Release file (the text the InRelease signature covers); `what` names it in errors. */
export function parseRelease(text: string, what: string): ReleaseFile {
  const f = fieldsOf(text);
  const suite = f.get('suite')?.[0] ?? '';
  const codename = f.get('codename')?.[0] ?? '';
  const lines = f.get('sha256');
  if (!lines) throw invalid(what, 'no SHA256 field');
  const files: IndexedFile[] = [];
  for (const line of lines.slice(1)) {
    const [sha256 = '', size = '', path = '', ...rest] = line.split(/\s+/);
    if (!SHA256.test(sha256) || !/^\d{1,15}$/.test(size) || !RELEASE_PATH.test(path) || rest.length > 0)
      throw invalid(what, `SHA256 entry "${line.slice(0, 200)}" is not "<sha256> <size> <path in the suite>"`);
    files.push({ path, size: Number(size), sha256 });
  }
  if (files.length === 0) throw invalid(what, 'its SHA256 field names no file');
  const date = Date.parse(f.get('date')?.[0] ?? '');
  return { suite, codename, date: Number.isFinite(date) ? date : null, files };
}

/** Reads a Packages index: one entry per package, each with its pool path, size and SHA-256. */
export function parsePackagesIndex(text: string, what: string): (IndexedFile & { name: string })[] {
  const out: (IndexedFile & { name: string })[] = [];
  for (const paragraph of text.split(/\n[ \t]*\n/)) {
    if (paragraph.trim() === '') continue;
    const f = fieldsOf(paragraph);
    const name = f.get('package')?.[0] ?? '';
    const path = f.get('filename')?.[0] ?? '';
    const size = f.get('size')?.[0] ?? '';
    const sha256 = f.get('sha256')?.[0] ?? '';
    if (!name) throw invalid(what, `an entry without Package: "${paragraph.slice(0, 120)}"`);
    if (!REPO_TREE_PATH.test(path) || !path.startsWith('pool/'))
      throw invalid(what, `${name}: Filename "${path.slice(0, 200)}" is not a file under pool/`);
    if (!/^\d{1,15}$/.test(size)) throw invalid(what, `${name}: no Size`);
    if (!SHA256.test(sha256)) throw invalid(what, `${name}: no SHA256 (every file must be named by its SHA-256)`);
    out.push({ name, path, size: Number(size), sha256 });
  }
  return out;
}

/**
 * The InRelease must be one clear-signed message and nothing else (RFC 4880 §7): gpgv verifies a signed block and
 * ignores text around it, so text before the header or after the signature is refused here rather than read.
 */
export function checkClearSigned(text: string, what: string): void {
  const begins = text.split('-----BEGIN PGP SIGNED MESSAGE-----').length - 1;
  const sigs = text.split('-----BEGIN PGP SIGNATURE-----').length - 1;
  if (!text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----\n') || begins !== 1 || sigs !== 1)
    throw new KilnError('peer_signature_invalid', `${what}: not one clear-signed message`);
  if (!/-----END PGP SIGNATURE-----\s*$/.test(text))
    throw new KilnError('peer_signature_invalid', `${what}: text after the signature`);
}
