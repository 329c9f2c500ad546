/**
 * Downloads the files `apt-get download --print-uris` names, each checked
 * against the hash apt printed (taken from the Packages index whose
 * InRelease verified), into one directory; a file already there with the
 * right size is kept (a re-sync fetches only what is new). Used where apt's
 * own `--download-only install` cannot be: udebs (not installable on this
 * machine's architecture set) and `full` mode (a whole suite, which no single
 * install can take). Unlike apt, a file the archive does not serve is
 * reported (URL and HTTP status) instead of stopping the rest.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One file apt would download. */
export interface AptUri {
  url: string;
  /** The file name apt gives it (`name_version_arch.deb`, epoch as `%3a`). */
  file: string;
  size: number;
  /** The strongest hash apt knows for the file: Debian's indexes carry SHA256, apt-ftparchive's SHA512 too. */
  hash: { algo: 'sha256' | 'sha512'; hex: string };
}

/** Parses `apt-get download --print-uris` (or `install --print-uris`) output: `'url' file size SHA256:hex` (or SHA512). Pure. */
export function parseAptUris(text: string): AptUri[] {
  const out: AptUri[] = [];
  for (const line of text.split('\n')) {
    const m = /^'([^']+)' (\S+) (\d+) (SHA256|SHA512):([0-9a-f]{64}|[0-9a-f]{128})$/.exec(line.trim());
    if (m && m[5].length === (m[4] === 'SHA256' ? 64 : 128))
      out.push({
        url: m[1],
        file: m[2],
        size: Number(m[3]),
        hash: { algo: m[4] === 'SHA256' ? 'sha256' : 'sha512', hex: m[5] },
      });
  }
  return out;
}

/** What `fetchVerified` did. */
export interface FetchResult {
  fetched: { file: string; size: number }[];
  kept: number;
  /** Files the archive did not serve, or served with the wrong hash. */
  failed: { file: string; url: string; reason: string }[];
}

/** Fetches `uris` into `dir` (`concurrency` at a time, each bounded by `timeoutMs`). */
export async function fetchVerified(
  uris: readonly AptUri[],
  dir: string,
  opts: { concurrency?: number; timeoutMs?: number } = {},
): Promise<FetchResult> {
  await mkdir(dir, { recursive: true });
  const out: FetchResult = { fetched: [], kept: 0, failed: [] };
  const queue = [...uris];
  const one = async (u: AptUri) => {
    const dest = join(dir, u.file);
    const have = await stat(dest).catch(() => null);
    if (have?.size === u.size) {
      out.kept += 1;
      return;
    }
    try {
      const res = await fetch(u.url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 300_000) });
      if (!res.ok) {
        await res.body?.cancel();
        out.failed.push({ file: u.file, url: u.url, reason: `HTTP ${res.status}` });
        return;
      }
      const body = Buffer.from(await res.arrayBuffer());
      const sum = createHash(u.hash.algo).update(body).digest('hex');
      if (body.length !== u.size || sum !== u.hash.hex) {
        out.failed.push({
          file: u.file,
          url: u.url,
          reason: `${u.hash.algo} ${sum} (${body.length} bytes) is not the index's`,
        });
        return;
      }
      await writeFile(`${dest}.partial`, body);
      await rename(`${dest}.partial`, dest);
      out.fetched.push({ file: u.file, size: body.length });
    } catch (err) {
      out.failed.push({ file: u.file, url: u.url, reason: (err as Error).message });
    }
  };
  const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, async () => {
    for (let u = queue.shift(); u; u = queue.shift()) await one(u);
  });
  await Promise.all(workers);
  out.fetched.sort((a, b) => a.file.localeCompare(b.file));
  out.failed.sort((a, b) => a.file.localeCompare(b.file));
  return out;
}
