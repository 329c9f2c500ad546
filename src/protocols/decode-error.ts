import type { SyslogDecodeErrorCode } from './syslog/decode-error.js';

/** Why DHCPv4 bytes failed to decode; a closed set. */
export type DhcpDecodeErrorCode = 'too_short' | 'bad_magic' | 'bad_option' | 'bad_hlen' | 'truncated_option';

/** Why a TFTP packet failed to decode; a closed set. */
export type TftpDecodeErrorCode = 'too_short' | 'bad_opcode' | 'unterminated_string' | 'bad_option';

/** The codec that threw, and so the set its `code` comes from. */
export type DecodeErrorProtocol = 'dhcp4' | 'tftp' | 'syslog';

/** Every decode failure code; each codec uses its own subset (the constructor pairs them). */
export type DecodeErrorCode = DhcpDecodeErrorCode | TftpDecodeErrorCode | SyslogDecodeErrorCode;

/**
 * The one decode failure of the wire codecs in protocols/ (STYLE F25): thrown
 * by DHCPv4 and TFTP for bytes that are not a valid message (never a
 * half-built packet), returned by the syslog deframer for a stream that
 * cannot be framed (syslog's message codec never fails; it records defects).
 * `offset` is the byte position where decoding gave up and `field` names the
 * field or option being read ("option 53"). Serve loops catch it by class and
 * drop the datagram; `code` is stable (tests and logs key on it).
 */
export class DecodeError extends Error {
  readonly protocol: DecodeErrorProtocol;
  readonly code: DecodeErrorCode;
  readonly offset: number;
  readonly field: string;

  constructor(protocol: 'dhcp4', code: DhcpDecodeErrorCode, offset: number, field: string, message?: string);
  constructor(protocol: 'tftp', code: TftpDecodeErrorCode, offset: number, field: string, message?: string);
  constructor(protocol: 'syslog', code: SyslogDecodeErrorCode, offset: number, field: string, message?: string);
  constructor(protocol: DecodeErrorProtocol, code: DecodeErrorCode, offset: number, field: string, message?: string) {
    super(message ?? `${protocol}: ${code} at byte ${offset} (${field})`);
    this.name = 'DecodeError';
    this.protocol = protocol;
    this.code = code;
    this.offset = offset;
    this.field = field;
  }
}
