/** One Server-Sent Events message: its `id` (last seen, per the spec), `event` type and joined `data` lines. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * An incremental Server-Sent Events parser (html.spec.whatwg.org "event stream interpretation"):
 * feed it text chunks as they arrive; it returns the complete messages. Comments (`: …`) and
 * messages without data are dropped, as a browser does.
 */
export function createSseParser() {
  let buf = '';
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  return {
    push(chunk: string): SseMessage[] {
      buf += chunk;
      const out: SseMessage[] = [];
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf);
        if (!m) break;
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === '') {
          if (data.length > 0) out.push({ id, event: event || 'message', data: data.join('\n') });
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'event') event = value;
        else if (field === 'id' && !value.includes('\0')) id = value;
      }
      return out;
    },
    /** The last `id` seen: what a reconnect sends as Last-Event-ID. */
    get lastId() {
      return id;
    },
  };
}
