/**
 * TFTP wire constants: opcodes (RFC 1350 §5, RFC 2347 §2), error codes
 * (RFC 1350 Appendix, RFC 2347 §5 for code 8) and option ranges (RFC 2348,
 * 2349, 7440). Tables are `as const`; use the name lookup for display.
 */

/** Opcodes, the first two bytes of every packet (RFC 1350 §5; OACK: RFC 2347 §2). */
export const TftpOpcode = {
  rrq: 1,
  wrq: 2,
  data: 3,
  ack: 4,
  error: 5,
  oack: 6,
} as const;

/** Error codes carried in ERROR packets (RFC 1350 Appendix; 8 from RFC 2347 §5). */
export const TftpErrorCode = {
  notDefined: 0,
  fileNotFound: 1,
  accessViolation: 2,
  diskFull: 3,
  illegalOperation: 4,
  unknownTransferId: 5,
  fileExists: 6,
  noSuchUser: 7,
  optionNegotiation: 8,
} as const;

/** Legal ranges of option values as the RFCs define them. */
export const TftpOptionRange = {
  blksize: { min: 8, max: 65464 }, // RFC 2348 §2
  timeout: { min: 1, max: 255 }, // RFC 2349 §2
  windowsize: { min: 1, max: 65535 }, // RFC 7440 §3
} as const;

/** Default block size when blksize is not negotiated (RFC 1350 §2). */
export const TFTP_DEFAULT_BLKSIZE = 512;

const errorNames = Object.fromEntries(Object.entries(TftpErrorCode).map(([k, v]) => [v, k])) as Record<number, string>;

/** Display name of an error code ("fileNotFound"), or "code<n>" for an unknown one. */
export function tftpErrorName(code: number): string {
  return errorNames[code] ?? `code${code}`;
}
