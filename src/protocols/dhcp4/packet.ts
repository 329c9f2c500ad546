import { DecodeError } from '../decode-error.js';
import { DHCP_MAGIC_COOKIE, DhcpOption } from './codes.js';
import { decodeOptionList, type DhcpRawOption } from './option-rules.js';

export type { DhcpRawOption };

/**
 * A decoded DHCPv4/BOOTP message (RFC 2131 §2). Addresses are dotted quads
 * ("0.0.0.0" when unset); `chaddr` is all 16 bytes of the field (use
 * `macOf()` for the hlen-long MAC). A decoded packet's `chaddr` and option
 * data are views into the bytes it was decoded from (no copy per field):
 * those bytes must not change while the packet is in use. `options` keeps wire order and repeats;
 * option overload (option 52, RFC 2132 §9.3) is not applied: Kiln never sends
 * it, and a client using it has its sname/file kept as text.
 */
export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  chaddr: Uint8Array;
  sname: string;
  file: string;
  options: DhcpRawOption[];
}

// RFC 2131 §2, figure 1:
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +---------------+---------------+---------------+---------------+
// |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |  0
// +---------------+---------------+---------------+---------------+
// |                            xid (4)                            |  4
// +-------------------------------+-------------------------------+
// |           secs (2)            |           flags (2)           |  8
// +-------------------------------+-------------------------------+
// | ciaddr 12 | yiaddr 16 | siaddr 20 | giaddr 24 (4 each)        |
// | chaddr (16) 28 | sname (64) 44 | file (128) 108               |
// | magic cookie 99.130.83.99 (4) 236 | options (variable) 240    |
// +---------------------------------------------------------------+
const FIXED = 236;
const ZERO = '0.0.0.0';
const OPTIONS_AT = 240;
/** RFC 1542 §2.1: a BOOTP message is at least 300 bytes; some relays and ROMs drop shorter ones. */
const MIN_LENGTH = 300;

function ipAt(b: Uint8Array, at: number): string {
  // Most header addresses of a request are unset: one constant string, no concatenation to build and flatten.
  if ((b[at] | b[at + 1] | b[at + 2] | b[at + 3]) === 0) return '0.0.0.0';
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function textAt(b: Uint8Array, at: number, len: number): string {
  let s = '';
  for (let i = at; i < at + len && b[i] !== 0; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Writes dotted quad `ip` as 4 bytes at `out[at]`; throws RangeError on anything else (callers pass their own values). */
export function writeIp(out: Uint8Array, at: number, ip: string): void {
  let part = 0;
  let digits = 0;
  let k = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || k === 4) throw new RangeError(`not an IPv4 address: ${ip}`);
      out[at + k++] = part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) throw new RangeError(`not an IPv4 address: ${ip}`);
    } else throw new RangeError(`not an IPv4 address: ${ip}`);
  }
  if (k !== 4) throw new RangeError(`not an IPv4 address: ${ip}`);
}

/** Decodes a DHCPv4 message from a UDP payload. Throws DecodeError; never returns a partial packet. */
export function decodeDhcp(b: Uint8Array): DhcpPacket {
  if (b.length < OPTIONS_AT)
    throw new DecodeError(
      'dhcp4',
      'too_short',
      b.length,
      'header',
      `dhcp4: ${b.length} bytes, a message has at least ${OPTIONS_AT}`,
    );
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hlen = b[2];
  if (hlen > 16) throw new DecodeError('dhcp4', 'bad_hlen', 2, 'hlen');
  // RFC 2131 §3: options start with the magic cookie; without it this is plain BOOTP, which Kiln does not serve.
  if (v.getUint32(FIXED) !== DHCP_MAGIC_COOKIE) throw new DecodeError('dhcp4', 'bad_magic', FIXED, 'magic cookie');
  return {
    op: b[0],
    htype: b[1],
    hlen,
    hops: b[3],
    xid: v.getUint32(4),
    secs: v.getUint16(8),
    flags: v.getUint16(10),
    ciaddr: ipAt(b, 12),
    yiaddr: ipAt(b, 16),
    siaddr: ipAt(b, 20),
    giaddr: ipAt(b, 24),
    chaddr: b.subarray(28, 44),
    sname: textAt(b, 44, 64),
    file: textAt(b, 108, 128),
    options: decodeOptionList(b, OPTIONS_AT, b.length, true),
  };
}

/** Bytes `writeOptionList` needs for `options`: code and length per (split) instance, plus data. */
function optionListLength(options: readonly DhcpRawOption[]): number {
  let n = 0;
  for (const o of options) {
    const len = o.data.length;
    n += len + (len <= 255 ? 2 : 2 * Math.ceil(len / 255));
  }
  return n;
}

/** Writes an option list at `out[at]`, returns the end offset; data longer than 255 bytes is split into repeats (RFC 3396 §7). */
function writeOptionList(out: Uint8Array, at: number, options: readonly DhcpRawOption[]): number {
  for (const o of options) {
    const d = o.data;
    if (d.length <= 255) {
      // Options are a few bytes each: a byte loop costs less than a view and a copy call per option.
      out[at] = o.code;
      out[at + 1] = d.length;
      for (let i = 0; i < d.length; i++) out[at + 2 + i] = d[i];
      at += 2 + d.length;
      continue;
    }
    let from = 0;
    do {
      const len = Math.min(255, d.length - from);
      out[at] = o.code;
      out[at + 1] = len;
      out.set(d.subarray(from, from + len), at + 2);
      at += 2 + len;
      from += len;
    } while (from < d.length);
  }
  return at;
}

/**
 * Encodes a message: fixed header, cookie, options, END, zero padding to 300
 * bytes (RFC 1542 §2.1). `alloc` gives the bytes to write into (zero-filled,
 * exactly `size` long; default a new Uint8Array), e.g. a view of a larger
 * block so that a busy server does not allocate a buffer per reply.
 */
export function encodeDhcp(p: DhcpPacket, alloc?: (size: number) => Uint8Array): Uint8Array {
  const size = Math.max(MIN_LENGTH, OPTIONS_AT + optionListLength(p.options) + 1);
  const out = alloc ? alloc(size) : new Uint8Array(size);
  out[0] = p.op;
  out[1] = p.htype;
  out[2] = p.hlen;
  out[3] = p.hops;
  const xid = p.xid >>> 0;
  out[4] = xid >>> 24;
  out[5] = (xid >>> 16) & 255;
  out[6] = (xid >>> 8) & 255;
  out[7] = xid & 255;
  out[8] = (p.secs >>> 8) & 255;
  out[9] = p.secs & 255;
  out[10] = (p.flags >>> 8) & 255;
  out[11] = p.flags & 255;
  // The bytes start zeroed: an unset address (most of them in a reply) needs no parsing.
  if (p.ciaddr !== ZERO) writeIp(out, 12, p.ciaddr);
  if (p.yiaddr !== ZERO) writeIp(out, 16, p.yiaddr);
  if (p.siaddr !== ZERO) writeIp(out, 20, p.siaddr);
  if (p.giaddr !== ZERO) writeIp(out, 24, p.giaddr);
  const chaddr = p.chaddr;
  for (let i = 0; i < 16 && i < chaddr.length; i++) out[28 + i] = chaddr[i];
  writeText(out, 44, 64, p.sname, 'sname');
  writeText(out, 108, 128, p.file, 'file');
  out[FIXED] = DHCP_MAGIC_COOKIE >>> 24;
  out[FIXED + 1] = (DHCP_MAGIC_COOKIE >>> 16) & 255;
  out[FIXED + 2] = (DHCP_MAGIC_COOKIE >>> 8) & 255;
  out[FIXED + 3] = DHCP_MAGIC_COOKIE & 255;
  out[writeOptionList(out, OPTIONS_AT, p.options)] = DhcpOption.end;
  return out;
}

function writeText(out: Uint8Array, at: number, size: number, s: string, field: string): void {
  // The field must keep one NUL terminator (RFC 2131 §2: "null terminated string").
  if (s.length > size - 1) throw new RangeError(`dhcp4: ${field} longer than ${size - 1} bytes`);
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i) & 0xff;
}

/** The client MAC as lower-case colon-separated hex (the first `hlen` bytes of chaddr). */
export function macOf(p: DhcpPacket): string {
  let s = '';
  for (let i = 0; i < p.hlen; i++) s += (i > 0 ? ':' : '') + HEX[p.chaddr[i]];
  return s;
}
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Option 53 of raw message bytes without decoding the message: a cheap look
 * for admission control before the full decode (dhcp-server.ts). Undefined
 * when the bytes are too short, lack the magic cookie, or carry no option 53
 * before END or a truncated option; never throws. Only the main option list
 * is scanned (no option overload, as `decodeDhcp`).
 */
export function peekMessageType(b: Uint8Array): number | undefined {
  if (b.length < OPTIONS_AT) return undefined;
  if (((b[FIXED] << 24) | (b[FIXED + 1] << 16) | (b[FIXED + 2] << 8) | b[FIXED + 3]) >>> 0 !== DHCP_MAGIC_COOKIE)
    return undefined;
  let at = OPTIONS_AT;
  while (at < b.length) {
    const code = b[at];
    if (code === DhcpOption.pad) {
      at++;
      continue;
    }
    if (code === DhcpOption.end || at + 1 >= b.length) return undefined;
    const len = b[at + 1];
    if (at + 2 + len > b.length) return undefined;
    if (code === DhcpOption.messageType) return len === 1 ? b[at + 2] : undefined;
    at += 2 + len;
  }
  return undefined;
}
