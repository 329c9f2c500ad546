/** Why a TFTP packet failed to decode; a closed set. */
export type TftpDecodeErrorCode = 'too_short' | 'bad_opcode' | 'unterminated_string' | 'bad_option';

/**
 * Thrown by the TFTP codec for bytes that are not a valid packet. `offset` is
 * the byte position where decoding gave up and `field` names the field being
 * read. The codec never returns a half-built packet.
 */
export class DecodeError extends Error {
  readonly code: TftpDecodeErrorCode;
  readonly offset: number;
  readonly field: string;

  constructor(code: TftpDecodeErrorCode, offset: number, field: string, message?: string) {
    super(message ?? `tftp: ${code} at byte ${offset} (${field})`);
    this.name = 'DecodeError';
    this.code = code;
    this.offset = offset;
    this.field = field;
  }
}
