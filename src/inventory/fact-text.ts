/** A fact as text: '' when absent, a scalar as String() writes it, anything else (a misplaced object or list) as JSON. */
export function factText(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}
