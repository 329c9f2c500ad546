import { KilnError } from '../../error/kiln-error.js';
import { parseReportedMac } from '../../net/mac.js';

/**
 * Encodes a Wake-on-LAN magic packet (AMD "Magic Packet Technology" white
 * paper, 1995): six 0xFF bytes, then the target MAC sixteen times; 102 bytes.
 *
 *   0      6                                  102
 *   +------+----------------------------------+
 *   | FF×6 | MAC×16 (6 bytes each)            |
 *   +------+----------------------------------+
 */
export function encodeMagicPacket(mac: string): Uint8Array {
  const m = parseReportedMac(mac);
  if (!m)
    throw new KilnError('validation_failed', `not a MAC address: ${JSON.stringify(mac)}`, {
      issues: [{ path: '/bmc/address', code: 'invalid_mac', message: 'a MAC address' }],
    });
  const bytes = m.split(':').map((h) => parseInt(h, 16));
  const out = new Uint8Array(102).fill(0xff, 0, 6);
  for (let i = 0; i < 16; i++) out.set(bytes, 6 + i * 6);
  return out;
}
