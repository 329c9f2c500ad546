const macForms = [
  /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i, // aa:bb:cc:dd:ee:ff, aa-bb-…
  /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i, // aabb.ccdd.eeff
  /^[0-9a-f]{12}$/i, // aabbccddeeff
];

/**
 * Normalises a MAC address to lower-case, colon-separated form
 * (`aa:bb:cc:dd:ee:ff`); returns undefined for anything else, and for all
 * zeros (BMCs report 00:00:00:00:00:00 for absent ports).
 */
export function normalizeMac(raw: string): string | undefined {
  const s = raw.trim();
  if (!macForms.some((re) => re.test(s))) return undefined;
  const hex = s.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (/^0+$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

/** Normalises, de-duplicates and sorts a list of MACs, dropping invalid ones. */
export function normalizeMacs(raw: Iterable<string>): string[] {
  const set = new Set<string>();
  for (const r of raw) {
    const m = normalizeMac(r);
    if (m) set.add(m);
  }
  return [...set].sort();
}
