import type { Logger } from '../log/logger.js';
import { redactSecrets } from './secret.js';

function scrub(value: unknown, secrets: string[]): unknown {
  if (typeof value === 'string') return redactSecrets(value, secrets);
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets));
  if (value && typeof value === 'object' && !(value instanceof Error)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v, secrets)]));
  }
  if (value instanceof Error) return redactSecrets(value.message, secrets);
  return value;
}

/**
 * Wraps a logger so every message and string field has the current BMC
 * passwords (`secrets()`, called per line) replaced by `***`: the last line
 * of defence when a BMC echoes a password into an error the queue logs.
 */
export function redactingLogger(base: Logger, secrets: () => string[]): Logger {
  const wrap = (l: Logger): Logger => {
    const line = (level: 'debug' | 'info' | 'warn' | 'error') => (obj: object, msg?: string) => {
      const s = secrets();
      if (s.length === 0) {
        l[level](obj, msg);
        return;
      }
      l[level](scrub(obj, s) as object, msg === undefined ? undefined : redactSecrets(msg, s));
    };
    return {
      debug: line('debug'),
      info: line('info'),
      warn: line('warn'),
      error: line('error'),
      child: (b) => wrap(l.child(scrub(b, secrets()) as object)),
    };
  };
  return wrap(base);
}
