/**
 * TFTP packet codec (RFC 1350 §5, RFC 2347 §2-3). Pure: bytes in, typed
 * values out. Strings are read byte-for-byte (latin1), so decode→encode
 * reproduces the wire bytes exactly; callers reinterpret filenames if needed.
 *
 *   RRQ/WRQ  2 bytes  string   1   string 1   string 1  string 1  ...
 *           +-------+---------+---+-------+---+-------+---+-------+---+
 *           | 01/02 | filename| 0 |  mode | 0 | opt1  | 0 | value1| 0 | ...
 *           +-------+---------+---+-------+---+-------+---+-------+---+
 *   DATA     2 bytes  2 bytes   n bytes (0..blksize)
 *           +-------+--------+-----------+
 *           |  03   | block  |   data    |
 *           +-------+--------+-----------+
 *   ACK      2 bytes  2 bytes
 *           +-------+--------+
 *           |  04   | block  |
 *           +-------+--------+
 *   ERROR    2 bytes  2 bytes   string   1
 *           +-------+--------+---------+---+
 *           |  05   |  code  | message | 0 |
 *           +-------+--------+---------+---+
 *   OACK     2 bytes  string 1  string 1
 *           +-------+-------+---+-------+---+
 *           |  06   | opt1  | 0 | value1| 0 | ...
 *           +-------+-------+---+-------+---+
 */
import { TftpOpcode } from './codes.js';
import { DecodeError } from '../decode-error.js';

/** One option as sent: `name` keeps the sender's case (matching is case-insensitive), `value` is the decimal text. */
export interface TftpOption {
  name: string;
  value: string;
}

/** A read or write request. `options` keeps wire order; an empty list means a plain RFC 1350 request. */
export interface TftpRequest {
  op: 'rrq' | 'wrq';
  filename: string;
  mode: string;
  options: TftpOption[];
}

/** A DATA packet. `block` is the 16-bit wire number; `data` is a view into the decoded bytes (not a copy). */
export interface TftpData {
  op: 'data';
  block: number;
  data: Uint8Array;
}

/** An ACK packet; `block` is the 16-bit wire number (0 acknowledges a WRQ or an OACK). */
export interface TftpAck {
  op: 'ack';
  block: number;
}

/** An ERROR packet; `code` is from `TftpErrorCode` but any 16-bit value decodes. */
export interface TftpErrorPacket {
  op: 'error';
  code: number;
  message: string;
}

/** An option acknowledgment (RFC 2347 §3): the options the server accepted, in its chosen order. */
export interface TftpOack {
  op: 'oack';
  options: TftpOption[];
}

/** Any TFTP packet. */
export type TftpPacket = TftpRequest | TftpData | TftpAck | TftpErrorPacket | TftpOack;

/** Reads NUL-terminated strings from `bytes` starting at `offset`; returns the string and the offset after its NUL, or -1 when unterminated. */
function readString(bytes: Uint8Array, offset: number, toEndIfUnterminated = false): { text: string; next: number } {
  let end = bytes.indexOf(0, offset);
  if (end < 0 && !toEndIfUnterminated) return { text: '', next: -1 };
  if (end < 0) end = bytes.length;
  let text = '';
  for (let i = offset; i < end; i++) text += String.fromCharCode(bytes[i]);
  return { text, next: end + 1 };
}

function allZero(bytes: Uint8Array, from: number): boolean {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Decodes name/value pairs from `offset` to the end (RFC 2347 §2). */
function decodeOptions(bytes: Uint8Array, offset: number): TftpOption[] {
  const options: TftpOption[] = [];
  let at = offset;
  while (at < bytes.length) {
    // Deviation: some PXE ROMs pad requests with NUL bytes; trailing zeros are tolerated and dropped.
    if (allZero(bytes, at)) break;
    const name = readString(bytes, at);
    if (name.next < 0) throw new DecodeError('tftp', 'unterminated_string', at, 'option name');
    if (name.text === '') throw new DecodeError('tftp', 'bad_option', at, 'option name', 'tftp: empty option name');
    const value = readString(bytes, name.next);
    if (value.next < 0) throw new DecodeError('tftp', 'unterminated_string', name.next, `option ${name.text} value`);
    options.push({ name: name.text, value: value.text });
    at = value.next;
  }
  return options;
}

function decodeRequest(op: 'rrq' | 'wrq', bytes: Uint8Array): TftpRequest {
  const filename = readString(bytes, 2);
  if (filename.next < 0) throw new DecodeError('tftp', 'unterminated_string', 2, 'filename');
  const mode = readString(bytes, filename.next);
  if (mode.next < 0) throw new DecodeError('tftp', 'unterminated_string', filename.next, 'mode');
  return { op, filename: filename.text, mode: mode.text, options: decodeOptions(bytes, mode.next) };
}

/**
 * Decodes one TFTP packet. Throws `DecodeError` for anything that is not a
 * packet; the returned DATA payload shares memory with `bytes`.
 */
export function decodeTftp(bytes: Uint8Array): TftpPacket {
  if (bytes.length < 2) throw new DecodeError('tftp', 'too_short', bytes.length, 'opcode');
  const op = (bytes[0] << 8) | bytes[1];
  const u16 = (field: string): number => {
    if (bytes.length < 4) throw new DecodeError('tftp', 'too_short', bytes.length, field);
    return (bytes[2] << 8) | bytes[3];
  };
  switch (op) {
    case TftpOpcode.rrq:
      return decodeRequest('rrq', bytes);
    case TftpOpcode.wrq:
      return decodeRequest('wrq', bytes);
    case TftpOpcode.data:
      return { op: 'data', block: u16('block'), data: bytes.subarray(4) };
    // Deviation: bytes after an ACK's block number are ignored (some clients pad).
    case TftpOpcode.ack:
      return { op: 'ack', block: u16('block') };
    case TftpOpcode.error: {
      const code = u16('error code');
      // Deviation: some servers omit the message's NUL; the rest of the packet is taken as the message.
      return { op: 'error', code, message: readString(bytes, 4, true).text };
    }
    case TftpOpcode.oack:
      return { op: 'oack', options: decodeOptions(bytes, 2) };
    default:
      throw new DecodeError('tftp', 'bad_opcode', 0, 'opcode', `tftp: unknown opcode ${op}`);
  }
}

/** Writes a latin1 string and its NUL at `at`; returns the offset after the NUL. */
function writeString(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i);
  out[at + text.length] = 0;
  return at + text.length + 1;
}

function checkString(text: string, field: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0 || c > 0xff) throw new RangeError(`tftp: ${field} has a character that cannot be sent (code ${c})`);
  }
}

function stringsPacket(op: number, strings: string[]): Uint8Array {
  const out = new Uint8Array(2 + strings.reduce((n, s) => n + s.length + 1, 0));
  out[1] = op;
  let at = 2;
  for (const s of strings) at = writeString(out, at, s);
  return out;
}

function u16Packet(op: number, value: number, extra: number): Uint8Array {
  const out = new Uint8Array(4 + extra);
  out[1] = op;
  out[2] = (value >> 8) & 0xff;
  out[3] = value & 0xff;
  return out;
}

/**
 * Encodes one packet. Throws RangeError for a string with NUL or a character
 * above U+00FF, or a block/code outside 0..65535.
 */
export function encodeTftp(packet: TftpPacket): Uint8Array {
  switch (packet.op) {
    case 'rrq':
    case 'wrq': {
      const strings = [packet.filename, packet.mode, ...packet.options.flatMap((o) => [o.name, o.value])];
      strings.forEach((s, i) => checkString(s, i === 0 ? 'filename' : i === 1 ? 'mode' : 'option'));
      return stringsPacket(packet.op === 'rrq' ? TftpOpcode.rrq : TftpOpcode.wrq, strings);
    }
    case 'oack': {
      const strings = packet.options.flatMap((o) => [o.name, o.value]);
      strings.forEach((s) => checkString(s, 'option'));
      return stringsPacket(TftpOpcode.oack, strings);
    }
    case 'data': {
      checkU16(packet.block, 'block');
      const out = u16Packet(TftpOpcode.data, packet.block, packet.data.length);
      out.set(packet.data, 4);
      return out;
    }
    case 'ack':
      checkU16(packet.block, 'block');
      return u16Packet(TftpOpcode.ack, packet.block, 0);
    case 'error': {
      checkU16(packet.code, 'error code');
      checkString(packet.message, 'error message');
      const out = u16Packet(TftpOpcode.error, packet.code, packet.message.length + 1);
      writeString(out, 4, packet.message);
      return out;
    }
  }
}

function checkU16(n: number, field: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`tftp: ${field} ${n} is not a 16-bit number`);
}

/**
 * Writes a DATA header (opcode 3, block `block & 0xffff`) into the first four
 * bytes of `out`; the hot path of a sender reuses one buffer per window slot
 * instead of allocating a packet per block.
 */
export function writeDataHeader(out: Uint8Array, block: number): void {
  out[0] = 0;
  out[1] = TftpOpcode.data;
  out[2] = (block >> 8) & 0xff;
  out[3] = block & 0xff;
}

/**
 * The block number of an ACK, or -1 when `bytes` is not an ACK. A fast path
 * for a sender's receive loop (one per packet), equivalent to `decodeTftp`
 * for ACKs (RFC 1350 §5: opcode 4, 2-byte block).
 */
export function decodeAckBlock(bytes: Uint8Array): number {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== TftpOpcode.ack) return -1;
  return (bytes[2] << 8) | bytes[3];
}
