// Test support: one request through Debian's curl, bounded, with its status line, headers and body.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CurlAnswer {
  status: number;
  headers: string;
  body: Buffer;
}

/** curl with `args`, at most `maxSeconds`; the headers go through a file in `work` (a directory the caller owns). */
export function curl(work: string, maxSeconds: number, args: string[]): Promise<CurlAnswer> {
  const headerFile = join(work, `h-${randomBytes(4).toString('hex')}`);
  return new Promise((resolve, reject) =>
    execFile(
      'curl',
      ['-sS', '--max-time', String(maxSeconds), '-D', headerFile, '-o', '-', ...args],
      { encoding: 'buffer', maxBuffer: 64 << 20 },
      (err, stdout) => {
        if (err) return reject(new Error(`curl ${args.join(' ')}: ${err.message}`));
        const headers = readFileSync(headerFile, 'utf8');
        resolve({ status: Number(/^HTTP\/\S+ (\d+)/.exec(headers)?.[1]), headers, body: stdout });
      },
    ),
  );
}

/** The value of header `name` in curl's header dump, or null. */
export const header = (headers: string, name: string): string | null =>
  new RegExp(`^${name}: *(.*?)\\r?$`, 'im').exec(headers)?.[1] ?? null;
