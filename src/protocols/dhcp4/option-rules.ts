import { DecodeError } from '../decode-error.js';
import { DhcpOption } from './codes.js';

/** One option as it appeared on the wire, in order; `data` excludes code and length. */
export interface DhcpRawOption {
  code: number;
  data: Uint8Array;
}

type Rule = { exact: number } | { min: number; multiple: number } | 'subOptions';

// Only options whose value steers a decision are checked; the rest are kept as
// bytes so one odd firmware option never makes a whole request undecodable.
const rules: Record<number, Rule> = {
  [DhcpOption.subnetMask]: { exact: 4 }, // RFC 2132 §3.3
  [DhcpOption.router]: { min: 4, multiple: 4 }, // RFC 2132 §3.5
  [DhcpOption.domainNameServer]: { min: 4, multiple: 4 }, // RFC 2132 §3.8
  [DhcpOption.requestedIpAddress]: { exact: 4 }, // RFC 2132 §9.1
  [DhcpOption.leaseTime]: { exact: 4 }, // RFC 2132 §9.2
  [DhcpOption.messageType]: { exact: 1 }, // RFC 2132 §9.6
  [DhcpOption.serverIdentifier]: { exact: 4 }, // RFC 2132 §9.7
  [DhcpOption.maxMessageSize]: { exact: 2 }, // RFC 2132 §9.10
  [DhcpOption.clientIdentifier]: { min: 2, multiple: 1 }, // RFC 2132 §9.14: "minimum length is 2"
  [DhcpOption.clientSystemArchitecture]: { min: 2, multiple: 2 }, // RFC 4578 §2.1: a list of 16-bit types
  [DhcpOption.relayAgentInformation]: 'subOptions', // RFC 3046 §2.0
  [DhcpOption.ipxeEncapsulated]: 'subOptions',
};

/** Checks one top-level option's length or framing; `at` is the code byte's offset. Throws DecodeError('bad_option'). */
function validateOption(code: number, data: Uint8Array, at: number): void {
  const rule = rules[code];
  if (rule === undefined) return;
  if (rule === 'subOptions') {
    decodeOptionList(data, 0, data.length, false);
    return;
  }
  const ok =
    'exact' in rule ? data.length === rule.exact : data.length >= rule.min && data.length % rule.multiple === 0;
  if (!ok)
    throw new DecodeError(
      'dhcp4',
      'bad_option',
      at,
      `option ${code}`,
      `dhcp4: option ${code} at byte ${at} has bad length ${data.length}`,
    );
}

/**
 * Decodes a code/length/value list (RFC 2132 §2) from `b[from, to)`. PAD (0) is
 * skipped, END (255) stops. Each option's `data` is a view into `b`. `top` selects the per-option rules of the main
 * list; sub-option lists (43, 82, 175) are checked for framing only.
 */
export function decodeOptionList(b: Uint8Array, from: number, to: number, top: boolean): DhcpRawOption[] {
  const out: DhcpRawOption[] = [];
  let at = from;
  while (at < to) {
    const code = b[at];
    if (code === DhcpOption.pad) {
      at++;
      continue;
    }
    if (code === DhcpOption.end) return out;
    if (at + 1 >= to) throw new DecodeError('dhcp4', 'truncated_option', at, `option ${code}`);
    const len = b[at + 1];
    if (at + 2 + len > to)
      throw new DecodeError(
        'dhcp4',
        'truncated_option',
        at,
        `option ${code}`,
        `dhcp4: option ${code} at byte ${at} claims ${len} bytes, ${to - at - 2} left`,
      );
    // A view, not a copy: one allocation less per option on every request (the caller must not change `b` while it uses the options).
    const data = b.subarray(at + 2, at + 2 + len);
    if (top) validateOption(code, data, at);
    out.push({ code, data });
    at += 2 + len;
  }
  // RFC 2131 §3 requires END, but many stacks pad to 300 bytes with zeros and some omit END; tolerated.
  return out;
}
