/**
 * Exit codes of the `kiln` CLI (documented in README.md). Only the CLI's
 * main sets the process exit code.
 */
export const exitCodes = {
  ok: 0,
  /** The API refused the request (validation, server error) or an operation failed. */
  failed: 1,
  /** Bad command line: unknown command or option, missing argument. See --help. */
  usage: 2,
  /** The named host, token or other resource does not exist. */
  notFound: 3,
  /** Conflict, illegal transition or stale version. */
  conflict: 4,
  /** Missing, wrong or too weak credentials (401/403). */
  auth: 5,
  /** The controller cannot be reached, or the configuration/store is invalid. */
  unavailable: 6,
} as const;

/** Maps an API error code to the CLI's exit code. */
export function exitCodeForError(code: string): number {
  switch (code) {
    case 'not_found':
    case 'route_not_found':
      return exitCodes.notFound;
    case 'conflict':
    case 'illegal_transition':
    case 'precondition_failed':
    case 'enrolment_closed':
      return exitCodes.conflict;
    case 'unauthenticated':
    case 'forbidden':
    case 'credential_invalid':
    case 'join_token_invalid':
      return exitCodes.auth;
    case 'store_unavailable':
    case 'config_invalid':
      return exitCodes.unavailable;
    default:
      return exitCodes.failed;
  }
}
