import { syslogSeverityName } from '../../protocols/syslog/codes.js';
import { sanitizeForDisplay } from '../../protocols/syslog/display-text.js';

/** One syslog line as GET /hosts/{host}/logs returns it (the fields `kiln host logs` prints). */
export interface LogLineJson {
  receivedAt: string;
  severity: number;
  hostname: string | null;
  app: string | null;
  procId: string | null;
  text: string;
  sessionId: string | null;
  defects: string[];
}

/**
 * One line for a terminal: time, severity, `app[pid]:`, text, and the session
 * when there is one. Every field a sender wrote goes through
 * sanitizeForDisplay (syslog is unauthenticated: no escape sequence reaches
 * the terminal).
 */
export function formatLogLine(l: LogLineJson): string {
  const s = (t: string) => sanitizeForDisplay(t);
  const tag = l.app ? `${s(l.app)}${l.procId ? `[${s(l.procId)}]` : ''}: ` : '';
  const extras = [
    ...(l.sessionId ? [`session=${s(l.sessionId)}`] : []),
    ...(l.defects.length ? [`defects=${l.defects.map(s).join(',')}`] : []),
  ];
  return `${l.receivedAt} ${syslogSeverityName(l.severity).padEnd(7)} ${tag}${s(l.text)}${extras.length ? `  (${extras.join(' ')})` : ''}`;
}
