import type { EventView } from './api-types.js';
import { html, query, seg, type Html } from './html.js';
import { when } from './layout.js';

/** One event as a table row (the live stream adds rows with the same columns, from script). */
export function eventRow(e: EventView): Html {
  return html`<tr data-seq="${e.seq}">
    <td>${e.seq}</td>
    <td>${when(e.at)}</td>
    <td class="kind">${e.kind}</td>
    <td>${e.subject ? html`<a href="/ui/hosts/${seg(e.subject)}">${e.subject}</a>` : ''}</td>
    <td>${e.actor}</td>
    <td class="msg">${e.message}</td>
  </tr>`;
}

/** The event log, newest first, with a kind filter; live rows are prepended by the stream. */
export function eventsBody(o: { kind: string; host: string; events: EventView[]; older: number | null }): Html {
  return html`<form class="filters" method="get" action="/ui/events" role="search" aria-label="Filter events">
      <label>Kind or prefix <input name="kind" value="${o.kind}" maxlength="100" placeholder="host." /></label>
      <label>Host id <input name="host" value="${o.host}" maxlength="100" /></label>
      <button type="submit">Filter</button>
    </form>
    <table class="events-table" id="events" data-stream="/ui/events/stream${query({ kind: o.kind, host: o.host })}">
      <caption>
        Events, newest first<span class="live-status" aria-live="polite"></span>
      </caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">At</th>
          <th scope="col">Kind</th>
          <th scope="col">Subject</th>
          <th scope="col">Actor</th>
          <th scope="col">Message</th>
        </tr>
      </thead>
      <tbody>
        ${o.events.map(eventRow)}
      </tbody>
    </table>
    ${o.older !== null ? html`<nav class="pager" aria-label="Pages"><a href="/ui/events${query({ kind: o.kind, host: o.host, before: o.older })}">Older events</a></nav>` : ''}`;
}
