import type { LeaseView } from './api-types.js';
import { html, type Html } from './html.js';
import { when } from './layout.js';

/** Leases grouped by subnet, each subnet a table ordered by address. */
export function leasesBody(leases: LeaseView[]): Html {
  const bySubnet = new Map<string, LeaseView[]>();
  for (const l of leases) bySubnet.set(l.subnet, [...(bySubnet.get(l.subnet) ?? []), l]);
  if (bySubnet.size === 0) return html`<p class="empty">No active leases.</p>`;
  return html`${[...bySubnet].map(
    ([subnet, items]) =>
      html`<section>
        <h2>${subnet} <span class="muted">(${items.length})</span></h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Address</th>
              <th scope="col">MAC</th>
              <th scope="col">Host name</th>
              <th scope="col">State</th>
              <th scope="col">Expires</th>
            </tr>
          </thead>
          <tbody>
            ${items.map(
              (l) =>
                html`<tr>
                  <td class="mono">${l.ip}</td>
                  <td class="mono">${l.mac}</td>
                  <td>${l.hostname ?? ''}</td>
                  <td>${l.state}</td>
                  <td>${when(l.expiresAt)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </section>`,
  )}`;
}
