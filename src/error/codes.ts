/**
 * The closed set of Kiln error codes. Each code has one HTTP status and one
 * line of documentation; `docs/errors.md` lists every code and
 * `codes.test.ts` fails when the two disagree. Add a code here first.
 */
export const errorCodes = {
  // request shape
  bad_request: {
    status: 400,
    doc: 'The request body or query is malformed (for example invalid JSON); fix the syntax.',
  },
  bad_url: {
    status: 400,
    doc: 'The request path is not a valid URL (for example a broken percent-encoding such as `%E0%A4%A`); fix the path.',
  },
  unsupported_media_type: {
    status: 415,
    doc: 'The request body has a content type this route does not read; send JSON with `Content-Type: application/json`.',
  },
  method_not_allowed: {
    status: 405,
    doc: 'The path exists but not with this method; the `Allow` header and the message list the methods it takes.',
  },
  uri_too_long: {
    status: 414,
    doc: 'A path segment is longer than the controller accepts (500 characters); names and ids are far shorter, so check the URL.',
  },
  headers_too_large: {
    status: 431,
    doc: "The request line and headers together exceed the HTTP server's limit (16 KiB); send a shorter URL or fewer headers.",
  },
  request_timeout: {
    status: 408,
    doc: 'The client did not send a whole request in time; the connection is closed. Retry.',
  },
  validation_failed: {
    status: 400,
    doc: 'A field is missing, unknown or has the wrong type or format; `issues` lists each one with its path.',
  },
  // authentication and authorisation
  unauthenticated: {
    status: 401,
    doc: 'No valid credential was sent; pass `Authorization: Bearer <token>` (or a node credential for node routes).',
  },
  forbidden: {
    status: 403,
    doc: 'The credential is valid but its role is too weak for this call; use a token with the role named in the message.',
  },
  csrf_failed: {
    status: 403,
    doc: "A web UI form or request that changes something came without the page's CSRF token, or with a wrong one; reload the page and try again.",
  },
  rate_limited: {
    status: 429,
    doc: 'Too many failed or repeated requests from this source; wait for the time given in `Retry-After`.',
  },
  // resources
  not_found: { status: 404, doc: 'The named resource does not exist; check the id or name.' },
  route_not_found: { status: 404, doc: 'No API route has this method and path; see `/api/v1/openapi.json`.' },
  conflict: {
    status: 409,
    doc: 'The change clashes with existing data (duplicate name, MAC or key); pick another value or edit the existing record.',
  },
  illegal_transition: {
    status: 409,
    doc: 'The host cannot move from its current lifecycle state to the requested one; the message lists the allowed next states.',
  },
  precondition_failed: {
    status: 412,
    doc: 'The resource changed since you read it; re-read it and retry with the new version.',
  },
  payload_too_large: { status: 413, doc: 'The request body is larger than the configured limit.' },
  range_not_satisfiable: {
    status: 416,
    doc: 'The Range header asks for bytes outside the file; `Content-Range` gives its length.',
  },
  // configuration and dependencies
  config_invalid: {
    status: 500,
    doc: 'A configuration setting is invalid; the message names the setting and the accepted values.',
  },
  store_unavailable: {
    status: 503,
    doc: 'The inventory database cannot be reached; check `--database-url` and that the server is running.',
  },
  profile_invalid: { status: 422, doc: 'A profile failed validation; the message names the file and line.' },
  template_error: {
    status: 422,
    doc: 'A template failed to render (missing variable, syntax error, forbidden access); the message names the file and line.',
  },
  layout_unfit: {
    status: 422,
    doc: "The machine description does not fit the host's stored facts (no disk matches, a disk is too small, two RAID members on one disk, an unknown NIC); `issues` names each with its code, and nothing was written.",
  },
  // power and BMC
  bmc_error: {
    status: 502,
    doc: "The BMC, hypervisor or power webhook answered with an error; the message says what kind, and the peer's own text is in the controller log at debug.",
  },
  bmc_timeout: { status: 504, doc: 'The BMC did not answer in time; check the address, network and `power-timeout`.' },
  bmc_unsupported: {
    status: 422,
    doc: "The host's power driver does not offer this operation (see its capabilities).",
  },
  // node trust
  credential_invalid: {
    status: 401,
    doc: 'The node credential is missing, revoked or belongs to another host (the attempt is recorded as an event), or a member call came without a valid member credential or over plain HTTP.',
  },
  install_token_invalid: {
    status: 403,
    doc: "The install-file URL token is unknown, expired, belongs to a deployment that ended, or was presented from an address other than the host's DHCP lease; deploy the host again for a new one.",
  },
  enrolment_closed: {
    status: 403,
    doc: 'This host is already enrolled; an operator must re-arm it (`kiln host rearm`) before it can enrol again. A discovery report whose enrolling answer was lost is answered again only when it repeats that report\'s enrolment secret while the credential is unused, within 15 minutes (docs/discovery.md, "A lost answer").',
  },
  discovery_refused: {
    status: 403,
    doc: 'The discovery policy refused this machine: an unknown MAC under `discovery: off` or not in `discovery-allow`, or a boot script or enrolment asked from an address Kiln did not lease to that MAC (see `boot-source-ranges`); the refusal is recorded.',
  },
  join_token_invalid: {
    status: 403,
    doc: 'The controller join token is unknown, expired, already used or its secret is wrong; make a new one on a member (`kiln controller join-token`) and join with it at once.',
  },
  tls_pin_mismatch: {
    status: 502,
    doc: "The server's TLS certificate does not match the pinned fingerprint; check that you reach the right controller, then pin the fingerprint `kiln serve` prints.",
  },
  // content from peer members
  peer_signature_invalid: {
    status: 502,
    doc: "A peer member's repo InRelease does not verify with that member's repo key in the store, is not one clear-signed message, or is for another suite; nothing was published. Check the peer's `kiln repo sync` and its key (`GET /api/v1/controllers/cas`).",
  },
  peer_content_invalid: {
    status: 502,
    doc: "A file a peer member served is not what its signed index names (a Packages index or package of another size or SHA-256, or an index entry without a SHA-256 or outside the tree); nothing was published, the message names the file and the peer. Re-sync the peer's subset, then sync from it again.",
  },
  peer_release_older: {
    status: 409,
    doc: "A peer member's signed Release for a suite is dated before the one this member serves (or has no Date); nothing was published, so a member never rolls its subset back. Sync the peer from upstream first (`kiln repo sync` there), or sync from a member that serves a newer one.",
  },
  peer_unavailable: {
    status: 502,
    doc: 'The peer member gave no answer, is not running with HTTPS, has no repo key in the store, or did not serve a file its own signed index names; nothing was published. Sync that member first or name another (`kiln controller list`).',
  },
  // catch-all
  internal: {
    status: 500,
    doc: 'An unexpected error; the `id` matches a log line with the details. Please report it.',
  },
} as const satisfies Record<string, { status: number; doc: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof errorCodes;
