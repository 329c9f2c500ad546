/**
 * A literal prefilter for trigger patterns (the idea RE2 calls a prefilter):
 * the strings of which every match of a pattern contains at least one, found
 * from the pattern's text. A line holding none of them cannot match, so the
 * linear-time engine (several microseconds a line per pattern: it simulates
 * an automaton) runs only on lines that hold one; `String#includes` is what
 * most lines of a flood cost instead.
 *
 * Conservative by construction: each top-level alternative contributes its
 * longest run of plain characters outside groups, classes and quantified
 * atoms; an alternative without such a run (`.*`, `(a|b)`, `[0-9]+`) means
 * no prefilter for the whole pattern (null: always run the pattern). Pure.
 */

/** Characters with a meaning of their own in a pattern (outside a class). */
const SPECIAL = new Set(['\\', '^', '$', '.', '|', '?', '*', '+', '(', ')', '[', ']', '{', '}']);

/** Index just past the class that starts at `i` (`[`), or -1 when it does not close. */
function skipClass(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '^') j++;
  // A `]` right after `[` or `[^` closes an empty class in JavaScript: not special-cased, just scanned.
  for (; j < p.length; j++) {
    if (p[j] === '\\') j++;
    else if (p[j] === ']') return j + 1;
  }
  return -1;
}

/** Index just past the group that starts at `i` (`(`), or -1 when it does not close. */
function skipGroup(p: string, i: number): number {
  let depth = 0;
  for (let j = i; j < p.length; j++) {
    const c = p[j];
    if (c === '\\') j++;
    else if (c === '[') {
      const k = skipClass(p, j);
      if (k < 0) return -1;
      j = k - 1;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return j + 1;
  }
  return -1;
}

/** The top-level alternatives of `p` (split on `|` outside groups and classes), or null when it does not scan. */
function alternatives(p: string): string[] | null {
  const out: string[] = [];
  let start = 0;
  for (let j = 0; j < p.length; j++) {
    const c = p[j];
    if (c === '\\') j++;
    else if (c === '[' || c === '(') {
      const k = c === '[' ? skipClass(p, j) : skipGroup(p, j);
      if (k < 0) return null;
      j = k - 1;
    } else if (c === '|') {
      out.push(p.slice(start, j));
      start = j + 1;
    }
  }
  out.push(p.slice(start));
  return out;
}

const isQuantifier = (c: string | undefined) => c === '?' || c === '*' || c === '+' || c === '{';

/** The longest run of literal characters every match of the alternative `a` holds ('' when none). */
function requiredRun(a: string): string | null {
  let best = '';
  let run = '';
  const end = () => {
    if (run.length > best.length) best = run;
    run = '';
  };
  for (let j = 0; j < a.length; j++) {
    const c = a[j];
    let literal: string | null = null;
    if (c === '\\') {
      const e = a[j + 1];
      if (e === undefined) return null;
      j++;
      // \d \w \s \b \n \x41 … stand for sets or positions: not taken as literals (conservative).
      literal = /[A-Za-z0-9]/.test(e) ? null : e;
    } else if (c === '[' || c === '(') {
      const k = c === '[' ? skipClass(a, j) : skipGroup(a, j);
      if (k < 0) return null;
      j = k - 1;
    } else if (!SPECIAL.has(c)) literal = c;
    if (literal === null) {
      end();
      // A quantifier after a group, class or escape belongs to it; skip it (and its lazy `?`).
      if (isQuantifier(a[j + 1])) j = skipQuantifier(a, j + 1);
      continue;
    }
    if (isQuantifier(a[j + 1])) {
      // The quantified character may be absent or repeated: the run ends before it.
      end();
      j = skipQuantifier(a, j + 1);
      continue;
    }
    run += literal;
  }
  end();
  return best;
}

/** Index of the last character of the quantifier that starts at `i`. */
function skipQuantifier(a: string, i: number): number {
  let j = i;
  if (a[j] === '{') {
    const close = a.indexOf('}', j);
    // A `{` that is not a quantifier is a literal in a pattern without the u flag; skipping it is conservative.
    j = close < 0 ? j : close;
  }
  if (a[j + 1] === '?') j++;
  return j;
}

/**
 * The literals a line must hold one of for `pattern` to match it, or null
 * when no such set is found (the pattern then runs on every line).
 */
export function requiredLiterals(pattern: string): string[] | null {
  const alts = alternatives(pattern);
  if (!alts) return null;
  const out: string[] = [];
  for (const a of alts) {
    const run = requiredRun(a);
    if (!run) return null;
    out.push(run);
  }
  return [...new Set(out)];
}

/** A test that is false only for lines `pattern` cannot match (always true without literals). */
export function literalPrefilter(pattern: string): (text: string) => boolean {
  const lits = requiredLiterals(pattern);
  if (!lits) return () => true;
  return (text) => lits.some((l) => text.includes(l));
}
