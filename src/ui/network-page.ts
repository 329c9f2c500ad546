import type { HostView, LeaseView } from './api-types.js';
import { html, seg, type Html } from './html.js';
import { stateBadge } from './layout.js';

const cell = 14;
const perRow = 32;

/** One subnet's addresses drawn as squares coloured by their host's state (a legend and list say the same in text). */
function subnetSvg(subnet: string, items: Array<{ lease: LeaseView; host: HostView | null }>): Html {
  const rows = Math.max(1, Math.ceil(items.length / perRow));
  const w = perRow * cell;
  const h = rows * cell;
  const counts = new Map<string, number>();
  for (const i of items) counts.set(i.host?.state ?? 'unknown', (counts.get(i.host?.state ?? 'unknown') ?? 0) + 1);
  const label = `${subnet}: ${items.length} leased addresses; ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`;
  return html`<svg
    class="subnet"
    role="img"
    aria-label="${label}"
    viewBox="0 0 ${w} ${h}"
    width="${w}"
    height="${h}"
    xmlns="http://www.w3.org/2000/svg"
  >
    <title>${label}</title>
    ${items.map((it, i) => {
      const x = (i % perRow) * cell;
      const y = Math.floor(i / perRow) * cell;
      const state = it.host?.state ?? 'unknown';
      const body = html`<rect
        x="${x + 1}"
        y="${y + 1}"
        width="${cell - 2}"
        height="${cell - 2}"
        class="cell st-${state}"
        ><title>${it.lease.ip} ${it.host?.name ?? it.lease.mac} (${state})</title></rect
      >`;
      return it.host ? html`<a href="/ui/hosts/${seg(it.host.name)}">${body}</a>` : body;
    })}
  </svg>`;
}

/** Subnets and their hosts by state (SVG), and hosts configured but never seen on the network. */
export function networkBody(o: {
  leases: LeaseView[];
  hosts: HostView[];
  states: readonly string[];
  truncated: boolean;
}): Html {
  const byMac = new Map<string, HostView>();
  for (const h of o.hosts) for (const n of h.nics) byMac.set(n.mac, h);
  const subnets = new Map<string, Array<{ lease: LeaseView; host: HostView | null }>>();
  const seen = new Set<string>();
  for (const l of o.leases) {
    const host = byMac.get(l.mac) ?? null;
    if (host) seen.add(host.id);
    subnets.set(l.subnet, [...(subnets.get(l.subnet) ?? []), { lease: l, host }]);
  }
  const never = o.hosts.filter((h) => h.state === 'new' && !seen.has(h.id));
  return html`<p class="legend">
      ${[...o.states, 'unknown'].map(
        (s) =>
          html`<span class="key"
            ><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" class="cell st-${s}" /></svg>
            ${s}</span
          > `,
      )}
    </p>
    ${o.truncated ? html`<p class="notice">Only the first ${o.hosts.length} hosts are drawn.</p>` : ''}
    ${
      subnets.size === 0
        ? html`<p class="empty">No active leases: no subnet to draw.</p>`
        : [...subnets].map(
            ([s, items]) =>
              html`<section>
                <h2>${s}</h2>
                ${subnetSvg(s, items)}
              </section>`,
          )
    }
    <section>
      <h2>Configured but never seen</h2>
      ${
        never.length === 0
          ? html`<p class="empty">None.</p>`
          : html`<ul>
              ${never.map((h) => html`<li><a href="/ui/hosts/${seg(h.name)}">${h.name}</a> ${stateBadge(h.state)} <span class="mono">${h.nics.map((n) => n.mac).join(' ')}</span></li>`)}
            </ul>`
      }
    </section>`;
}
