/**
 * Why syslog bytes could not be (fully) read; a closed set.
 * The message codec never throws: it records these as `SyslogDefect`s on a
 * best-effort message (a collector keeps every line). The RFC 6587 deframer
 * returns the framing codes as a `DecodeError('syslog', …)` (src/protocols/decode-error.ts) that ends the connection.
 */
export type SyslogDecodeErrorCode =
  // message (decodeSyslog): a field could not be read; the raw bytes are kept
  | 'too_long' // longer than SYSLOG_MAX_MESSAGE_OCTETS: cut there (RFC 5424 §6.1)
  | 'no_pri' // no valid `<PRIVAL>`: read as user.notice (RFC 3164 §4.3.3)
  | 'bad_version' // RFC 5424 VERSION other than 1
  | 'bad_timestamp' // TIMESTAMP not RFC 3339 (RFC 5424 §6.2.3) or not `Mmm dd hh:mm:ss` (RFC 3164 §4.1.2)
  | 'bad_header_field' // HOSTNAME/APP-NAME/PROCID/MSGID too long or not PRINTUSASCII (RFC 5424 §6)
  | 'truncated_header' // the RFC 5424 header ends before STRUCTURED-DATA
  | 'bad_structured_data' // STRUCTURED-DATA does not follow RFC 5424 §6.3; its text is kept in `text`
  | 'bad_utf8' // MSG or a PARAM-VALUE is not valid UTF-8; decoded with U+FFFD
  // framing (RFC 6587 deframer): the connection must be dropped
  | 'bad_frame_length'; // octet-counting MSG-LEN not NONZERO-DIGIT *DIGIT followed by SP (RFC 6587 §3.4.1)

/** One field the codec could not read: `offset` is the byte where it starts, `field` names it ("TIMESTAMP"). */
export interface SyslogDefect {
  readonly code: SyslogDecodeErrorCode;
  readonly offset: number;
  readonly field: string;
}
