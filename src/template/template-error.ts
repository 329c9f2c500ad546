import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import type { ErrorCode } from '../error/codes.js';

/** Maps a virtual path and a 1-based line/column to the `file:line:col` users see. */
export type LocateFn = (virtualPath: string | undefined, line: number, col: number) => string;

interface LiquidLikeError {
  name?: string;
  message?: string;
  token?: { file?: string; getPosition?: () => [number, number] };
  originalError?: Error;
  /** liquidjs' errors are Errors: `Name: message`. */
  toString(): string;
}

/** The 1-based line and column liquidjs attached to an error, or 1:1. */
function positionOf(err: LiquidLikeError): [number, number] {
  const pos = err.token?.getPosition?.();
  if (pos) return pos;
  const m = /line:(\d+), col:(\d+)/.exec(err.message ?? '');
  return m ? [Number(m[1]), Number(m[2])] : [1, 1];
}

/** liquidjs' message without its trailing `, file:…, line:…, col:…` (we format our own). */
function bareMessage(err: LiquidLikeError): string {
  const msg = err.originalError?.message ?? err.message ?? String(err);
  return msg
    .replace(/,? ?(file:[^,]*, )?line:\d+, col:\d+$/, '')
    .replace(/\/(templates|scripts|snippets|_snippets|inline)\/?/g, '');
}

/** A short issue code from liquidjs' error class. */
function issueCode(err: LiquidLikeError): string {
  const msg = bareMessage(err);
  if (err.name === 'UndefinedVariableError') return 'undefined_variable';
  if (/limit exceeded/.test(msg)) return 'limit_exceeded';
  if (/ENOENT|Failed to lookup/.test(msg)) return 'snippet_not_found';
  if (/undefined filter/.test(msg)) return 'unknown_filter';
  if (err.name === 'ParseError' || err.name === 'TokenizationError') return 'syntax';
  return 'render';
}

/**
 * Converts a liquidjs error into one issue located at `file:line:col`;
 * `fallbackFile` is used when liquidjs does not say which file failed.
 */
export function templateIssue(err: unknown, fallbackFile: string, locate: LocateFn): ErrorIssue {
  const e = (err ?? {}) as LiquidLikeError;
  const [line, col] = positionOf(e);
  return { path: locate(e.token?.file ?? fallbackFile, line, col), code: issueCode(e), message: bareMessage(e) };
}

/** Wraps a liquidjs error as a KilnError (`template_error` by default) naming file and line. */
export function toTemplateError(
  err: unknown,
  fallbackFile: string,
  locate: LocateFn,
  code: ErrorCode = 'template_error',
): KilnError {
  const issue = templateIssue(err, fallbackFile, locate);
  return new KilnError(code, `${issue.path}: ${issue.message}`, { issues: [issue], cause: err });
}
