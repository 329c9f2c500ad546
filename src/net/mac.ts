// MAC addresses, normalised once at the edge (STYLE rule 18) into the branded
// lower-case colon form, so every comparison in the core is plain equality.
import { KilnError } from '../error/kiln-error.js';

/** A MAC address normalised at the edge: lower-case, colon-separated, 6 octets. */
export type Mac = string & { readonly __brand: 'Mac' };

const CANONICAL = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/** The accepted spellings; the separator must be the same throughout. */
const macForms = [
  /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i, // aa:bb:cc:dd:ee:ff, aa-bb-…
  /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i, // aabb.ccdd.eeff
  /^[0-9a-f]{12}$/i, // aabbccddeeff
];

/**
 * Parses `AA-BB-CC-DD-EE-FF`, `aa:bb:…`, `aabb.ccdd.eeff` or `aabbccddeeff`
 * (surrounding blanks ignored, one separator throughout); null when not a
 * MAC. All zeros is a MAC here; see `parseReportedMac`.
 */
export function parseMac(text: string): Mac | null {
  // The normal form already (iPXE's ${net0/mac}, every stored MAC): nothing to rewrite.
  if (CANONICAL.test(text)) return text as Mac;
  const s = text.trim();
  if (!macForms.some((re) => re.test(s))) return null;
  return s
    .toLowerCase()
    .replace(/[^0-9a-f]/g, '')
    .match(/../g)!
    .join(':') as Mac;
}

/** Like parseMac, but throws `validation_failed` naming the field `path` (request input). */
export function normalizeMac(text: string, path = 'mac'): Mac {
  const mac = parseMac(text);
  if (!mac) {
    throw new KilnError(
      'validation_failed',
      `${path}: "${text}" is not a MAC address; use six hex octets such as 52:54:00:12:34:56`,
      {
        issues: [{ path, code: 'bad_mac', message: 'expected six hex octets such as 52:54:00:12:34:56' }],
      },
    );
  }
  return mac;
}

const NO_MAC = '00:00:00:00:00:00';

/**
 * A MAC as a BMC, a hypervisor or an operator names a NIC to reach: like
 * parseMac, but all zeros (what BMCs report for an absent port) is no MAC
 * either; undefined when there is none.
 */
export function parseReportedMac(text: string): Mac | undefined {
  const mac = parseMac(text);
  return mac === null || mac === NO_MAC ? undefined : mac;
}

/** parseReportedMac over a list: de-duplicated and sorted, what is not a MAC dropped. */
export function parseReportedMacs(texts: Iterable<string>): Mac[] {
  const set = new Set<Mac>();
  for (const t of texts) {
    const m = parseReportedMac(t);
    if (m) set.add(m);
  }
  return [...set].sort();
}
