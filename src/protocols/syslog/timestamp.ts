/**
 * Syslog timestamps: RFC 5424 §6.2.3 (RFC 3339 with restrictions) and RFC 3164
 * §4.1.2 (`Mmm dd hh:mm:ss`). Pure; a text that is not a valid timestamp
 * gives undefined, never a guess.
 */
import type { SyslogTimestamp } from './message.js';

// RFC 5424 §6.2.3: FULL-DATE "T" FULL-TIME; TIME-SECFRAC is 1*6DIGIT; "T" and "Z" MUST be upper case.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/;

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

function utcMs(year: number, month: number, day: number, h: number, m: number, s: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // not Date.UTC: it maps years 0..99 to 1900..1999
  d.setUTCHours(h, m, s, 0);
  return d.getTime();
}

/** Parses an RFC 5424 TIMESTAMP (not NILVALUE); undefined when it breaks §6.2.3. */
export function parseRfc3339(text: string): SyslogTimestamp | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, h, min, s] = m.slice(1, 7).map(Number);
  // RFC 5424 §6.2.3 (restriction 5): leap seconds MUST NOT be used, so TIME-SECOND stops at 59.
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || h > 23 || min > 59 || s > 59) {
    return undefined;
  }
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[8].slice(1, 3));
    const om = Number(m[8].slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[8][0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = m[7] === undefined ? 0 : Math.floor(Number(m[7].padEnd(6, '0')) / 1000);
  const epochMs = utcMs(year, month, day, h, min, s) + ms - offsetMinutes * 60_000;
  return { kind: 'rfc3339', text, epochMs, offsetMinutes };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
// RFC 3164 §4.1.2: "Mmm dd hh:mm:ss", a day below 10 padded with a space ("Dec  6"). Some senders
// write "Dec 6" or "Dec 06" instead; we accept both (deviation, tolerated: the meaning is unambiguous).
const BSD = /^([A-Z][a-z]{2}) (?: (\d)|(\d{1,2})) (\d{2}):(\d{2}):(\d{2})/;

/**
 * Parses an RFC 3164 timestamp at the start of `text`; gives the timestamp
 * and its length in characters, or undefined. No year and no zone: RFC 3164
 * §4.1.2 leaves both to the receiver.
 */
export function parseBsdTimestamp(text: string): { timestamp: SyslogTimestamp; length: number } | undefined {
  const m = BSD.exec(text);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1]) + 1;
  const day = Number(m[2] ?? m[3]);
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6])];
  // 29 Feb is valid in some year; 60 s is a leap second, which BSD senders may emit.
  if (month === 0 || day < 1 || day > daysInMonth(2000, month) || hour > 23 || minute > 59 || second > 60) {
    return undefined;
  }
  const timestamp: SyslogTimestamp = { kind: 'bsd', text: m[0], month, day, hour, minute, second };
  return { timestamp, length: m[0].length };
}
