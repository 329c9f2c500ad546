import { sanitizeForDisplay } from '../../protocols/syslog/display-text.js';
import { formatTable } from '../table.js';

/** A boot session as GET /hosts/{host}/sessions returns it (the fields `kiln host timeline` prints). */
export interface SessionJson {
  session: string;
  startedAt: string;
  firmware: string;
  arch: string | null;
  purpose: string;
  status: string;
  summary: string;
}

/** A session with its stages (GET /hosts/{host}/timeline). */
export interface TimelineJson extends SessionJson {
  hostName: string;
  mac: string;
  stages: Array<{ at: string; stage: string; outcome: string; detail: string }>;
}

// Details carry text a node sent (progress messages, failure reasons): no escape sequence reaches the terminal.
const s = (t: string) => sanitizeForDisplay(t);

/** A session list for a terminal, newest first. */
export function formatSessions(items: readonly SessionJson[]): string {
  return formatTable(
    ['SESSION', 'STARTED', 'FIRMWARE', 'PURPOSE', 'STATUS'],
    items.map((i) => [i.session, i.startedAt, `${i.firmware}${i.arch ? ` ${i.arch}` : ''}`, i.purpose, s(i.summary)]),
  );
}

/** One session's stages in order, then where it stands. */
export function formatTimeline(t: TimelineJson): string {
  const head = `${s(t.hostName)} (${t.mac}) session ${t.session}, started ${t.startedAt}, firmware ${t.firmware}${t.arch ? ` ${t.arch}` : ''}, ${t.purpose}`;
  const rows = formatTable(
    ['AT', 'STAGE', 'OUTCOME', 'DETAIL'],
    t.stages.map((x) => [x.at, x.stage, x.outcome, s(x.detail)]),
  );
  return `${head}\n${rows}\n${t.status}: ${s(t.summary)}`;
}
