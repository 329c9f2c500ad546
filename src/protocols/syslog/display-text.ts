/**
 * Makes untrusted text (a syslog line: unauthenticated UDP) safe to print on
 * a terminal: no escape sequence can move the cursor, recolour, retitle the
 * window or hide text. Pure; the CLI calls it on every field it shows.
 */

// ESC-introduced sequences (ECMA-48): CSI "ESC [ params final", OSC/DCS/SOS/PM/APC strings ended by
// BEL or ST ("ESC \"), and two-byte "ESC x"; also the 8-bit C1 CSI (U+009B). A string left open
// (no terminator) is removed to the end, so a half sequence cannot leak through.
/* eslint-disable no-control-regex -- matching control characters is what these two regexes are for */
const ESCAPE_SEQUENCE =
  /\u001b\[[0-?]*[ -/]*[@-~]?|\u009b[0-?]*[ -/]*[@-~]?|[\u001b][\]PX^_][^\u0007\u001b]*(?:\u0007|\u001b\\|$)|[\u0090\u0098\u009d\u009e\u009f][^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c|$)|\u001b[\s\S]?/g;
// C0 controls except TAB, DEL, C1 controls, and the Unicode bidirectional overrides and isolates
// (U+202A-U+202E, U+2066-U+2069) that can make a terminal show text in another order than it is.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/* eslint-enable no-control-regex */

/**
 * Gives `text` with ANSI/ECMA-48 escape sequences and control characters
 * removed; TAB is kept, and CR and LF become one space each so that words on
 * either side of a line break stay apart.
 */
export function sanitizeForDisplay(text: string): string {
  return text
    .replace(ESCAPE_SEQUENCE, '')
    .replace(/[\r\n]/g, ' ')
    .replace(CONTROL, '');
}
