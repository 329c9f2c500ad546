import { KilnError } from '../error/kiln-error.js';

/** A MAC address normalised at the edge: lower-case, colon-separated, 6 octets. */
export type Mac = string & { readonly __brand: 'Mac' };

const hex12 = /^[0-9a-f]{12}$/;

/** Parses `AA-BB-CC-DD-EE-FF`, `aa:bb:…`, `aabb.ccdd.eeff` or `aabbccddeeff`; null when not a MAC. */
export function parseMac(input: string): Mac | null {
  const bare = input
    .trim()
    .toLowerCase()
    .replace(/[:\-.]/g, '');
  if (!hex12.test(bare)) return null;
  return bare.match(/../g)!.join(':') as Mac;
}

/** Like parseMac, but throws `validation_failed` naming the field. */
export function normalizeMac(input: string, path = 'mac'): Mac {
  const mac = parseMac(input);
  if (!mac) {
    throw new KilnError(
      'validation_failed',
      `${path}: "${input}" is not a MAC address; use six hex octets such as 52:54:00:12:34:56`,
      {
        issues: [{ path, code: 'bad_mac', message: 'expected six hex octets such as 52:54:00:12:34:56' }],
      },
    );
  }
  return mac;
}
