/**
 * The boot session a syslog line names, in one of two forms (docs/syslog.md):
 *
 *   RFC 5424 structured data   [kiln@32473 session="3f2a9c1b7d4e"]
 *   a token in the text        kiln.session=3f2a9c1b7d4e   (RFC 3164 senders: busybox, plain logger)
 *
 * The value must have the boot session id form (isBootSessionId); anything
 * else is ignored. Pure.
 */
import { isBootSessionId, type BootSessionId } from '../boot/boot-session.js';
import type { SyslogMessage } from '../protocols/syslog/message.js';

/** The SD-ID Kiln's senders use (32473 is the private enterprise number RFC 5612 reserves for documentation). */
export const KILN_SD_ID = 'kiln@32473';

const TEXT_TOKEN = /(?:^|\s)kiln\.session=([0-9a-f]+)(?=\s|$)/;

/** The session id the message carries, or null. Structured data wins over the text token. */
export function sessionOf(msg: Pick<SyslogMessage, 'structuredData' | 'text'>): BootSessionId | null {
  for (const el of msg.structuredData) {
    if (el.id !== KILN_SD_ID) continue;
    const p = el.params.find((x) => x.name === 'session');
    if (p && isBootSessionId(p.value)) return p.value;
  }
  const m = TEXT_TOKEN.exec(msg.text);
  return m && isBootSessionId(m[1]) ? m[1] : null;
}
