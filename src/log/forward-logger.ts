import type { Logger } from './logger.js';

/** One log line as a worker thread hands it to the main thread's logger. */
export interface ForwardedLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object;
  msg?: string | undefined;
}

/** Errors do not survive structured clone with their fields everywhere; a line keeps their message and errno code. */
const plain = (obj: object): object => {
  const err = (obj as { err?: unknown }).err;
  if (!(err instanceof Error)) return obj;
  return { ...obj, err: { message: err.message, code: (err as NodeJS.ErrnoException).code } };
};

/** A logger for a worker thread: every line goes to `send` (a postMessage), child bindings merged in. */
export function forwardLogger(send: (line: ForwardedLine) => void, bindings: object = {}): Logger {
  const at =
    (level: ForwardedLine['level']) =>
    (obj: object, msg?: string): void =>
      send({ level, obj: plain({ ...bindings, ...obj }), msg });
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => forwardLogger(send, { ...bindings, ...more }),
  };
}
