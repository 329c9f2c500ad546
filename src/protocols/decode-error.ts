/** Why DHCPv4 bytes failed to decode; a closed set. */
export type DhcpDecodeErrorCode = 'too_short' | 'bad_magic' | 'bad_option' | 'bad_hlen' | 'truncated_option';

/** Why a TFTP packet failed to decode; a closed set. */
export type TftpDecodeErrorCode = 'too_short' | 'bad_opcode' | 'unterminated_string' | 'bad_option';

/** The codec that threw, and so the set its `code` comes from. */
export type DecodeErrorProtocol = 'dhcp4' | 'tftp';

/** Every decode failure code; each codec uses its own subset (the constructor pairs them). */
export type DecodeErrorCode = DhcpDecodeErrorCode | TftpDecodeErrorCode;

/**
 * Thrown by every wire codec in protocols/ for bytes that are not a valid
 * message (STYLE F25). `offset` is the byte position where decoding gave up
 * and `field` names the field or option being read ("option 53"). A codec
 * never returns a half-built packet. Serve loops catch it by class and drop
 * the datagram; `code` is stable (tests and logs key on it).
 */
export class DecodeError extends Error {
  readonly protocol: DecodeErrorProtocol;
  readonly code: DecodeErrorCode;
  readonly offset: number;
  readonly field: string;

  constructor(protocol: 'dhcp4', code: DhcpDecodeErrorCode, offset: number, field: string, message?: string);
  constructor(protocol: 'tftp', code: TftpDecodeErrorCode, offset: number, field: string, message?: string);
  constructor(protocol: DecodeErrorProtocol, code: DecodeErrorCode, offset: number, field: string, message?: string) {
    super(message ?? `${protocol}: ${code} at byte ${offset} (${field})`);
    this.name = 'DecodeError';
    this.protocol = protocol;
    this.code = code;
    this.offset = offset;
    this.field = field;
  }
}
