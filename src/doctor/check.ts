/**
 * The controller self-check's vocabulary: a named check that looks at one
 * thing and says ok, warn or fail, with what it saw and, when not ok, the fix
 * in words. Domains add their checks to one registry that the composition root
 * fills (`kiln serve`'s main); the doctor runs them all.
 */

/** ok: fine. warn: works but needs attention soon (certificate near expiry, image still building). fail: something Kiln serves is broken. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

/** What one run of a check found; `fix` is empty when `status` is ok. */
export interface CheckOutcome {
  status: CheckStatus;
  /** One line of what was seen (paths, interfaces, dates). */
  detail: string;
  /** What an operator does to repair it, in words (a command when there is one). */
  fix?: string;
}

/** One check's result with its name and how long it took. */
export interface CheckResult extends CheckOutcome {
  name: string;
  ms: number;
}

/** A named check. `run` may throw: the doctor reports a throw as fail with the message. Called on start, on demand and periodically. */
export interface Check {
  /** Stable kebab-case name (`data-dir-permissions`), used in events, metrics labels and the CLI. */
  readonly name: string;
  run(signal: AbortSignal): Promise<CheckOutcome>;
}

/** The checks of one controller, in the order they were added. Names are unique. */
export interface CheckRegistry {
  /** Adds a check; throws when the name is taken (two domains must not shadow each other). */
  add(check: Check): void;
  list(): readonly Check[];
}

/** An empty registry. */
export function createCheckRegistry(): CheckRegistry {
  const checks: Check[] = [];
  return {
    add(check) {
      if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(check.name)) throw new Error(`bad check name ${check.name}`);
      if (checks.some((c) => c.name === check.name)) throw new Error(`check ${check.name} is registered twice`);
      checks.push(check);
    },
    list: () => checks,
  };
}

/** Builds an outcome: `ok(detail)`, `warn(detail, fix)`, `fail(detail, fix)`. */
export const ok = (detail: string): CheckOutcome => ({ status: 'ok', detail });
export const warn = (detail: string, fix: string): CheckOutcome => ({ status: 'warn', detail, fix });
export const fail = (detail: string, fix: string): CheckOutcome => ({ status: 'fail', detail, fix });
