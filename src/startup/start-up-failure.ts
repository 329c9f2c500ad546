// Start-up failures of `kiln serve` as one line naming the setting and the fix
// (exit code 6), never a library's own message. The places that can fail at
// start (directories, listening sockets) call these with the setting they read.
import { accessSync, constants, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { envName } from './setting-name.js';

const errnoOf = (err: unknown): string | undefined => (err as { code?: unknown } | null)?.code as string | undefined;

/** How to set a top-level setting (`--data-dir` or `KILN_DATA_DIR`); nested ones live in the config file. */
export function howToSet(setting: string): string {
  return setting.includes('.') ? `${setting} in the config file` : `--${setting} or ${envName(setting)}`;
}

/**
 * A socket that cannot listen on `address` (HOST:PORT) for `setting`: the
 * errno mapped to its cause and fix. Other errors keep their text, prefixed
 * with the setting.
 */
export function listenFailure(setting: string, address: string, err: unknown): KilnError {
  const code = errnoOf(err);
  const why =
    code === 'EADDRINUSE'
      ? 'the address is already in use (another Kiln, or another program on that port); stop it or'
      : code === 'EACCES'
        ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE); run as root or'
        : code === 'EADDRNOTAVAIL'
          ? 'no interface of this machine has that address; use one of its addresses (or 0.0.0.0), or'
          : `cannot listen (${code ?? (err as Error).message}); fix the cause or`;
  return new KilnError('config_invalid', `${setting} ${address}: ${why} set another with ${howToSet(setting)}`, {
    cause: err,
  });
}

/**
 * Creates directory `path` (and its parents) for `setting` when missing,
 * with `mode` when created, and proves it is a writable directory by writing
 * and removing a probe file. Throws `config_invalid` naming the setting.
 */
export function ensureWritableDirectory(setting: string, path: string, mode = 0o700): void {
  const fail = (why: string, err?: unknown) =>
    new KilnError(
      'config_invalid',
      `${setting} ${path}: ${why}; point ${howToSet(setting)} at a directory Kiln can create and write`,
      err === undefined ? undefined : { cause: err },
    );
  try {
    mkdirSync(path, { recursive: true, mode });
  } catch (err) {
    const code = errnoOf(err);
    throw fail(
      code === 'EEXIST' || code === 'ENOTDIR'
        ? 'is not a directory (a file is in the way)'
        : code === 'EACCES' || code === 'EPERM'
          ? 'cannot be created (permission denied)'
          : code === 'EROFS'
            ? 'cannot be created (read-only file system)'
            : `cannot be created (${code ?? (err as Error).message})`,
      err,
    );
  }
  if (!statSync(path).isDirectory()) throw fail('is not a directory');
  const probe = join(path, `.kiln-write-probe-${process.pid}`);
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
    writeFileSync(probe, '', { mode: 0o600 });
    rmSync(probe, { force: true });
  } catch (err) {
    const code = errnoOf(err);
    throw fail(
      code === 'EROFS' ? 'is on a read-only file system' : `is not writable (${code ?? 'permission denied'})`,
      err,
    );
  }
}

/** Every start-up failure as one line: a KilnError's message with its lines joined, anything else named as unexpected. */
export function startUpFailure(err: unknown): KilnError {
  const oneLine = (s: string) =>
    s
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .join('; ')
      .replace(/:;/g, ':');
  if (err instanceof KilnError) {
    const msg = oneLine(err.message);
    if (err.code === 'config_invalid' || err.code === 'store_unavailable')
      return msg === err.message ? err : new KilnError(err.code, msg, { cause: err, issues: err.issues });
    return new KilnError('config_invalid', `kiln serve could not start: ${msg}`, { cause: err });
  }
  return new KilnError(
    'config_invalid',
    `kiln serve could not start: ${oneLine((err as Error)?.message ?? String(err))} (run with --log-level debug and report it if the cause is unclear)`,
    { cause: err },
  );
}
