import { checkServedName } from '../../protocols/served-name.js';

/** A normalized request path, or why it is refused (becomes ERROR 2 access violation). */
export type TftpPathResult = { ok: true; path: string } | { ok: false; reason: string };

/**
 * Normalizes a requested filename into a path relative to the TFTP root. Pure.
 * The wire name is latin1 bytes (codec); they are read as UTF-8 here (invalid
 * or overlong sequences become U+FFFD, which the name rule refuses). A leading
 * '/' means the root (like `in.tftpd -s`); '\' is a separator (Windows PXE
 * clients send `boot\pxeboot.n12`); empty and '.' segments are dropped. The
 * result then goes through the name rule every served root shares
 * (served-path.ts): no '..', no dotfile, no control character, no '%'.
 */
export function resolveTftpPath(wireName: string): TftpPathResult {
  const bytes = Uint8Array.from(wireName, (c) => c.charCodeAt(0) & 0xff);
  const name = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const segments = name
    .replace(/\\/g, '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return { ok: false, reason: `path "${name}" contains ".."` };
  if (segments.length === 0) return { ok: false, reason: 'empty path' };
  const checked = checkServedName(segments.join('/'));
  return checked.ok ? { ok: true, path: checked.name } : { ok: false, reason: checked.reason };
}
