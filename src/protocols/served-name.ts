/**
 * The name rule for every file Kiln serves without a credential (HTTP and
 * TFTP alike; boot/served-path.ts adds the filesystem rule, and profiles
 * apply this one at load to their boot files): 1–1024 characters; no control
 * character, backslash, `%` (after the one decoding a transport does, a `%`
 * means a second encoding such as `%252f`) or U+FFFD (what invalid or
 * overlong UTF-8 decodes to); segments separated by `/`, none empty and none
 * starting with `.` (so no `.`, `..`, dotfile or dot-directory). Pure.
 */

/** Longest name served, in characters. */
export const MAX_SERVED_NAME = 1024;

/** Why a request gets no file: `not_found` (HTTP 404, TFTP ERROR 1) or `refused` (HTTP 404 too, TFTP ERROR 2). */
export type ServedRefusal = { ok: false; kind: 'not_found' | 'refused'; reason: string };

/** A name that passed the rule, or why not. */
export type ServedName = { ok: true; name: string } | ServedRefusal;

// C0 and C1 controls, DEL, backslash, percent, U+FFFD.
// eslint-disable-next-line no-control-regex -- the rule refuses control characters, so it names them.
const FORBIDDEN_CHAR = /[\u0000-\u001f\u007f-\u009f\\%\ufffd]/u;

/** Applies the name rule to a relative, `/`-separated name. Pure. */
export function checkServedName(name: string): ServedName {
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
  if (name.length === 0) return { ok: false, kind: 'refused', reason: 'empty name' };
  if (name.length > MAX_SERVED_NAME)
    return { ok: false, kind: 'refused', reason: `name longer than ${MAX_SERVED_NAME} characters` };
  const bad = FORBIDDEN_CHAR.exec(name);
  if (bad)
    return {
      ok: false,
      kind: 'refused',
      reason: `${shown} contains U+${bad[0].codePointAt(0)!.toString(16).padStart(4, '0')}`,
    };
  for (const seg of name.split('/')) {
    if (seg === '') return { ok: false, kind: 'refused', reason: `${shown} has an empty segment` };
    if (seg.startsWith('.'))
      return { ok: false, kind: 'refused', reason: `${shown} has a segment starting with "." (., .., or a dotfile)` };
  }
  return { ok: true, name };
}
