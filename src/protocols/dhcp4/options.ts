import { DhcpOption } from './codes.js';
import { decodeOptionList } from './option-rules.js';
import { writeIp, type DhcpPacket, type DhcpRawOption } from './packet.js';

/**
 * The value of option `code`, with repeated instances concatenated (RFC 3396
 * §5: a long option may be split across instances). Undefined when absent.
 */
export function findOption(p: Pick<DhcpPacket, 'options'>, code: number): Uint8Array | undefined {
  // Every request asks for several options: the common case (one instance) allocates nothing.
  const options = p.options;
  let first = -1;
  let repeated = false;
  for (let i = 0; i < options.length; i++)
    if (options[i].code === code) {
      if (first >= 0) {
        repeated = true;
        break;
      }
      first = i;
    }
  if (first < 0) return undefined;
  if (!repeated) return options[first].data;
  const parts = options.filter((o) => o.code === code);
  const out = new Uint8Array(parts.reduce((n, o) => n + o.data.length, 0));
  let at = 0;
  for (const o of parts) {
    out.set(o.data, at);
    at += o.data.length;
  }
  return out;
}

function ascii(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

function ipAt(b: Uint8Array, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** Option 53 (RFC 2132 §9.6), or undefined for plain BOOTP. */
export function getMessageType(p: DhcpPacket): number | undefined {
  return findOption(p, DhcpOption.messageType)?.[0];
}

/** Option 93 (RFC 4578 §2.1): every architecture type the client lists, in order; empty when absent. */
export function getClientArchs(p: DhcpPacket): number[] {
  const d = findOption(p, DhcpOption.clientSystemArchitecture);
  const out: number[] = [];
  if (d) for (let i = 0; i + 1 < d.length; i += 2) out.push((d[i] << 8) | d[i + 1]);
  return out;
}

/** Option 60 (RFC 2132 §9.13) as text, e.g. "PXEClient:Arch:00007:UNDI:003016". */
export function getVendorClass(p: DhcpPacket): string | undefined {
  const d = findOption(p, DhcpOption.vendorClassIdentifier);
  return d && ascii(d);
}

/**
 * Option 77 user classes. RFC 3004 §4 frames each class with a length byte,
 * but iPXE (and gPXE) send the bare string "iPXE"; when the bytes are not a
 * valid RFC 3004 list, the whole value is one class.
 */
export function getUserClasses(p: DhcpPacket): string[] {
  const d = findOption(p, DhcpOption.userClass);
  if (!d || d.length === 0) return [];
  const out: string[] = [];
  let at = 0;
  while (at < d.length) {
    const len = d[at];
    if (len === 0 || at + 1 + len > d.length) return [ascii(d)];
    out.push(ascii(d.subarray(at + 1, at + 1 + len)));
    at += 1 + len;
  }
  return out;
}

/** Option 97 (RFC 4578 §2.3) as a lower-case UUID string; undefined when absent or not type 0 + 16 bytes. */
export function getClientMachineId(p: DhcpPacket): string | undefined {
  const d = findOption(p, DhcpOption.clientMachineId);
  if (!d || d.length !== 17 || d[0] !== 0) return undefined;
  const h = Array.from(d.subarray(1), (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** An IPv4 option (50, 54, 1, …) as a dotted quad; undefined when absent or not 4 bytes. */
export function getIpOption(p: DhcpPacket, code: number): string | undefined {
  const d = findOption(p, code);
  return d && d.length === 4 ? ipAt(d) : undefined;
}

/** Sub-options of an encapsulating option (43 from PXE clients, 82, 175); empty when absent or not TLV-framed. */
export function getSubOptions(p: DhcpPacket, code: number): DhcpRawOption[] {
  const d = findOption(p, code);
  if (!d) return [];
  try {
    return decodeOptionList(d, 0, d.length, false);
  } catch {
    // Option 43 is vendor-defined and need not be TLV; a non-TLV value has no sub-options to show.
    return [];
  }
}

/** An option carrying one dotted-quad address (or several: 3, 6). */
export function ipOption(code: number, ...ips: string[]): DhcpRawOption {
  const data = new Uint8Array(ips.length * 4);
  ips.forEach((ip, i) => writeIp(data, i * 4, ip));
  return { code, data };
}

/** An option carrying an unsigned big-endian integer of `size` bytes (1, 2 or 4). */
export function uintOption(code: number, value: number, size: 1 | 2 | 4): DhcpRawOption {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[size - 1 - i] = (value >>> (8 * i)) & 0xff;
  return { code, data };
}

/** An option carrying ASCII text (60, 66, 67, 12); characters above 0xff are truncated to a byte. */
export function textOption(code: number, text: string): DhcpRawOption {
  return { code, data: Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff) };
}

/** An encapsulating option (43, 175) built from sub-options, END-terminated as iPXE and PXE ROMs expect. */
export function encapsulatedOption(code: number, subs: DhcpRawOption[]): DhcpRawOption {
  const bytes: number[] = [];
  for (const s of subs) bytes.push(s.code, s.data.length, ...s.data);
  bytes.push(DhcpOption.end);
  return { code, data: Uint8Array.from(bytes) };
}
