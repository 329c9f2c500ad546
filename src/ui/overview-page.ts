import type { EventView, HostView, UnreachableView } from './api-types.js';
import { html, query, seg, type Html } from './html.js';
import { unreachableSection } from './health-page.js';
import { stateBadge, when } from './layout.js';

/** What the fleet overview shows. */
export interface OverviewData {
  counts: Record<string, number>;
  states: readonly string[];
  attention: HostView[];
  /** More hosts need attention than are listed. */
  moreAttention: boolean;
  stalled: EventView[];
  /** Hosts whose heartbeat stopped (the heartbeat service's memory), most recently heard first. */
  unreachable: UnreachableView[];
  recent: EventView[];
}

/** The live part of the overview (swapped in place when host and boot events arrive). */
export function overviewFragment(d: OverviewData): Html {
  const total = Object.values(d.counts).reduce((a, b) => a + b, 0);
  return html`<section aria-labelledby="counts-h">
      <h2 id="counts-h">Hosts by state</h2>
      <ul class="counts" data-total="${total}">
        ${d.states.map(
          (s) =>
            html`<li class="count count-${s}">
              <a href="/ui/hosts${query({ state: s })}"
                ><span class="n" data-state="${s}">${d.counts[s] ?? 0}</span> <span class="label">${s}</span></a
              >
            </li>`,
        )}
        <li class="count count-total">
          <a href="/ui/hosts"><span class="n" data-state="total">${total}</span> <span class="label">total</span></a>
        </li>
      </ul>
    </section>
    <section aria-labelledby="attention-h">
      <h2 id="attention-h">Hosts needing attention</h2>
      ${
        d.attention.length === 0
          ? html`<p class="empty">None.</p>`
          : html`<table>
                <thead>
                  <tr>
                    <th scope="col">Host</th>
                    <th scope="col">State</th>
                    <th scope="col">Why</th>
                  </tr>
                </thead>
                <tbody>
                  ${d.attention.map(
                    (h) =>
                      html`<tr>
                        <td><a href="/ui/hosts/${seg(h.name)}">${h.name}</a></td>
                        <td>${stateBadge(h.state)}</td>
                        <td>
                          ${h.stateReason ?? (h.failedStage ? `failed at ${h.failedStage}` : 'hardware changed or flagged')}
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>
              ${d.moreAttention ? html`<p><a href="/ui/hosts${query({ attention: 'true' })}">All hosts needing attention</a></p>` : ''}`
      }
    </section>
    <section aria-labelledby="stalled-h">
      <h2 id="stalled-h">Stalled boots</h2>
      ${
        d.stalled.length === 0
          ? html`<p class="empty">None.</p>`
          : html`<ul class="events">
              ${d.stalled.map(
                (e) =>
                  html`<li>
                    ${when(e.at)}
                    ${e.subject ? html`<a href="/ui/hosts/${seg(e.subject)}#timeline">${e.subject}</a>` : ''}:
                    ${e.message}
                  </li>`,
              )}
            </ul>`
      }
    </section>
    ${unreachableSection(d.unreachable)}
    <section aria-labelledby="recent-h">
      <h2 id="recent-h">Latest host events</h2>
      <ul class="events">
        ${d.recent.map(
          (e) =>
            html`<li>
              ${when(e.at)}
              <span class="kind">${e.kind}</span>
              ${e.subject ? html`<a href="/ui/hosts/${seg(e.subject)}">${e.subject}</a>` : ''} ${e.message}
            </li>`,
        )}
      </ul>
    </section>`;
}

/** The overview page body: the fragment inside its live container. */
export function overviewBody(d: OverviewData): Html {
  return html`<div id="fleet" data-live="/ui/fragments/overview" data-kinds="host. boot. node." aria-live="polite">
    ${overviewFragment(d)}
  </div>`;
}
