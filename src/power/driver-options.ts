import { KilnError } from '../error/kiln-error.js';

/**
 * Small typed readers for a driver's free-form `options` object. Each throws
 * `validation_failed` naming `/bmc/options/<key>` when the value has the
 * wrong type, so a bad setting fails when the driver is built, not mid-call.
 */
export function optionReader(driver: string, options: Record<string, unknown> | undefined) {
  const o = options ?? {};
  const bad = (key: string, want: string): never => {
    throw new KilnError('validation_failed', `power driver "${driver}": option ${key} must be ${want}`, {
      issues: [{ path: `/bmc/options/${key}`, code: 'invalid_type', message: `must be ${want}` }],
    });
  };
  return {
    string(key: string): string | undefined {
      const v = o[key];
      if (v === undefined) return undefined;
      return typeof v === 'string' ? v : bad(key, 'a string');
    },
    number(key: string, dflt: number): number {
      const v = o[key];
      if (v === undefined) return dflt;
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : bad(key, 'a non-negative number');
    },
    boolean(key: string, dflt: boolean): boolean {
      const v = o[key];
      if (v === undefined) return dflt;
      return typeof v === 'boolean' ? v : bad(key, 'true or false');
    },
    record(key: string): Record<string, string> | undefined {
      const v = o[key];
      if (v === undefined) return undefined;
      if (typeof v !== 'object' || v === null || Object.values(v).some((x) => typeof x !== 'string'))
        return bad(key, 'an object of strings');
      return v as Record<string, string>;
    },
  };
}
