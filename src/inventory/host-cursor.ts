import { KilnError } from '../error/kiln-error.js';
import { checkHostName } from './validate-host.js';

// The `next` of a host list page: opaque to clients (today the base64url of
// the page's last host name behind a version mark, so the order key can change
// without breaking them). Host names are lower-case, so a cursor ("K1…") is
// never a host name: `after` still takes a plain name, as it did before cursors.
const mark = 'K1';

/** The cursor that resumes a host list after the host named `lastName`. */
export function encodeHostCursor(lastName: string): string {
  return mark + Buffer.from(lastName, 'utf8').toString('base64url');
}

/** The host name a cursor (or a plain host name) resumes after; `bad_request` for anything else. */
export function decodeHostCursor(after: string): string {
  const name = after.startsWith(mark) ? Buffer.from(after.slice(mark.length), 'base64url').toString('utf8') : after;
  if (checkHostName(name).length)
    throw new KilnError(
      'bad_request',
      `after must be the "next" value of the previous page (or a host name), got ${JSON.stringify(after.slice(0, 80))}`,
    );
  return name;
}
