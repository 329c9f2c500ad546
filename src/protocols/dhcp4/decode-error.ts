/** Why DHCPv4 bytes failed to decode; a closed set. */
export type DhcpDecodeErrorCode = 'too_short' | 'bad_magic' | 'bad_option' | 'bad_hlen' | 'truncated_option';

/**
 * Thrown by the DHCPv4 codec for bytes that are not a valid message.
 * `offset` is the byte position where decoding gave up and `field` names the
 * field or option being read ("option 53"). The codec never returns a
 * half-built packet.
 */
export class DecodeError extends Error {
  readonly code: DhcpDecodeErrorCode;
  readonly offset: number;
  readonly field: string;

  constructor(code: DhcpDecodeErrorCode, offset: number, field: string, message?: string) {
    super(message ?? `dhcp4: ${code} at byte ${offset} (${field})`);
    this.name = 'DecodeError';
    this.code = code;
    this.offset = offset;
    this.field = field;
  }
}
