/**
 * A received syslog message as the syslog domain keeps it: the decoded
 * fields, who sent it, the host it was attributed to (or null), and the boot
 * session it names (or null). Its text is untrusted: sanitize before display.
 */
export interface StoredSyslogMessage {
  id: number;
  hostId: string | null;
  receivedAt: string;
  sourceIp: string;
  facility: number;
  severity: number;
  hostname: string | null;
  app: string | null;
  procId: string | null;
  msgId: string | null;
  text: string;
  sessionId: string | null;
  /** Codec defect codes (`no_pri`, `bad_timestamp`, …); empty for a well-formed message. */
  defects: string[];
}

/** A message to store (no id yet); `raw` is base64 of the bytes received, kept only with defects. */
export type NewSyslogMessage = Omit<StoredSyslogMessage, 'id'> & { raw: string | null };

/** Which messages `list` returns: one host's (or the unattributed ones, hostId null), oldest first. */
export interface SyslogQuery {
  hostId: string | null;
  sessionId?: string;
  /** ISO 8601: messages received at or after it (the first `limit` of them); without it, the last `limit`. */
  since?: string;
  /** Only lines with an id above it, oldest first (follow: the last id seen). */
  after?: number;
  /** Only this severity and more severe (0 emerg … 7 debug; lower is more severe). */
  severity?: number;
  /** Only lines whose text contains it (ASCII case-insensitive). */
  grep?: string;
  limit: number;
}
