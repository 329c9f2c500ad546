/**
 * Stable one-line text dump of a decoded syslog message, for logs, the golden
 * tests and a debug decoder. The format is part of the golden files: change it
 * only with `UPDATE_GOLDEN=1` and a reviewed diff.
 */
import { syslogFacilityName, syslogSeverityName } from './codes.js';
import type { SyslogMessage } from './message.js';
import { formatStructuredData } from './structured-data.js';

/**
 * Summarizes e.g. `rfc5424 local0.notice ts=2026-12-06T04:52:26.209355+00:00 host=kiln-capture app=kiln-test
 * sd=- text="hello"`; absent fields are left out, defects are listed as `!code@offset(FIELD)`.
 */
export function summarizeSyslog(m: SyslogMessage): string {
  const parts: string[] = [m.format, `${syslogFacilityName(m.facility)}.${syslogSeverityName(m.severity)}`];
  if (m.timestamp) parts.push(`ts=${m.timestamp.text}`);
  if (m.hostname !== undefined) parts.push(`host=${m.hostname}`);
  if (m.appName !== undefined) parts.push(`app=${m.appName}`);
  if (m.procId !== undefined) parts.push(`pid=${m.procId}`);
  if (m.msgId !== undefined) parts.push(`msgid=${m.msgId}`);
  if (m.format === 'rfc5424') parts.push(`sd=${formatStructuredData(m.structuredData)}`);
  if (m.bom) parts.push('bom');
  parts.push(`text=${JSON.stringify(m.text)}`);
  for (const d of m.defects) parts.push(`!${d.code}@${d.offset}(${d.field})`);
  return parts.join(' ');
}
