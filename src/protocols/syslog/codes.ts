/**
 * Syslog wire constants as `as const` tables: facilities and severities
 * (RFC 5424 §6.2.1, Tables 1 and 2; RFC 3164 §4.1.1 has the same values), the
 * NILVALUE and the per-field length limits of the RFC 5424 header (§6), and
 * Kiln's size cap. Use the name lookups for display.
 */

/** Facility codes (RFC 5424 §6.2.1 Table 1); PRI = facility * 8 + severity. */
export const SyslogFacility = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  audit: 13,
  alert: 14,
  clock: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

/** Severity codes (RFC 5424 §6.2.1 Table 2); lower is more severe. */
export const SyslogSeverity = {
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
} as const;

const facilityNames = Object.fromEntries(Object.entries(SyslogFacility).map(([k, v]) => [v, k]));
const severityNames = Object.fromEntries(Object.entries(SyslogSeverity).map(([k, v]) => [v, k]));

/** Name of a facility code for display (`local0`), or `facility<n>` for a code outside the table. */
export function syslogFacilityName(code: number): string {
  return facilityNames[code] ?? `facility${code}`;
}

/** Name of a severity code for display (`notice`), or `severity<n>` for a code outside the table. */
export function syslogSeverityName(code: number): string {
  return severityNames[code] ?? `severity${code}`;
}

/** Largest PRI value (RFC 5424 §6.2.1: PRIVAL range 0..191, i.e. facility 23, severity 7). */
export const MAX_PRIVAL = 191;

/** RFC 3164 §4.3.3: a relay that finds no valid PRI MUST use 13 (user.notice); we read such lines the same way. */
export const DEFAULT_PRIVAL = 13;

/** RFC 5424 §6: "-", a field with no value. */
export const NILVALUE = '-';

/** Maximum lengths of the RFC 5424 header fields in octets (§6, HOSTNAME..MSGID; §6.3.2 SD-NAME). */
export const MaxFieldLength = { hostname: 255, appName: 48, procId: 128, msgId: 32, sdName: 32 } as const;

/**
 * Largest syslog message Kiln keeps, in octets; longer ones are cut here and
 * marked `too_long`. RFC 5424 §6.1: receivers SHOULD accept 2048 octets and
 * MAY accept more; 8 KiB is rsyslog's default (`maxMessageSize`) and holds a
 * kernel oops line or an installer's long command line, while bounding memory
 * per message and per TCP connection.
 */
export const SYSLOG_MAX_MESSAGE_OCTETS = 8192;
