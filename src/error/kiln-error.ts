import { randomUUID } from 'node:crypto';
import { errorCodes, type ErrorCode } from './codes.js';

/** One problem with one input field; `path` is a JSON pointer or setting name. */
export interface ErrorIssue {
  path: string;
  code: string;
  message: string;
}

/**
 * The one base class for every domain error. `code` is from the closed set in
 * `codes.ts`; `id` links an API error body to its log line; `details` is
 * extra data safe to show a client (never a secret).
 */
export class KilnError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly id: string;
  readonly issues: ErrorIssue[];
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { issues?: ErrorIssue[]; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KilnError';
    this.code = code;
    this.httpStatus = errorCodes[code].status;
    this.id = randomUUID();
    this.issues = opts.issues ?? [];
    this.details = opts.details;
  }
}

/** True when `err` is a KilnError with the given code. Test errors by code, never by text. */
export function hasCode(err: unknown, code: ErrorCode): err is KilnError {
  return err instanceof KilnError && err.code === code;
}

export const isNotFound = (err: unknown): err is KilnError => hasCode(err, 'not_found');
export const isConflict = (err: unknown): err is KilnError => hasCode(err, 'conflict');
