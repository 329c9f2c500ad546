/**
 * Operator regular expressions run on every received syslog line, whose
 * text any host (or anyone spoofing one) chooses. A backtracking engine can
 * take exponential time on a crafted line (ReDoS), so trigger patterns run on
 * V8's linear-time engine (the `l` flag, an automaton without backtracking:
 * v8.dev/blog/non-backtracking-regexp). It refuses what it cannot run in
 * linear time (backreferences, lookaround, the `i` flag): such a pattern is a
 * config error, never a slower fallback. No new dependency: RE2 bindings are
 * not among the project's packages, and this engine ships inside Node.
 */
import { setFlagsFromString } from 'node:v8';

/** Longest pattern accepted (also the config schema's bound). */
export const MAX_PATTERN_LENGTH = 512;

let enabled = false;
/** V8's flag for the linear-time engine (linters that do not know it are told through this name). */
const LINEAR = 'l';

/** Compiles `pattern` for the linear-time engine; throws an Error saying why it cannot be used. */
export function linearRegExp(pattern: string): RegExp {
  if (pattern.length > MAX_PATTERN_LENGTH) throw new Error(`longer than ${MAX_PATTERN_LENGTH} characters`);
  if (!enabled) {
    // The flag only makes the `l` flag legal; it changes no other regular expression.
    setFlagsFromString('--enable-experimental-regexp-engine');
    enabled = true;
  }
  try {
    return new RegExp(pattern, LINEAR);
  } catch (err) {
    throw new Error(
      `${(err as Error).message.replace(/^Invalid regular expression: /, '')} ` +
        '(trigger patterns run in linear time: no backreferences, no lookahead or lookbehind; write [Kk] for either case)',
      { cause: err },
    );
  }
}
