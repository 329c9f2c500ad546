import type { HostView } from './api-types.js';
import { html, query, seg, type Html } from './html.js';
import { stateBadge } from './layout.js';

/** The host list's filters, as the page's query string carries them. */
export interface HostListFilter {
  state?: string;
  tag?: string;
  mac?: string;
  prefix?: string;
  attention?: string;
  after?: string;
}

const text = (name: keyof HostListFilter, label: string, f: HostListFilter, hint: string) =>
  html`<label>${label} <input name="${name}" value="${f[name] ?? ''}" maxlength="253" placeholder="${hint}" /></label>`;

/** Filters form (a GET: it works without JavaScript), one page of hosts, and the link to the next page. */
export function hostListBody(o: {
  filter: HostListFilter;
  states: readonly string[];
  hosts: HostView[];
  next: string | null;
  error?: Html;
}): Html {
  const f = o.filter;
  const { after: _after, ...kept } = f;
  return html`<form class="filters" method="get" action="/ui/hosts" role="search" aria-label="Filter hosts">
      <label
        >State
        <select name="state">
          <option value="">any</option>
          ${o.states.map((s) => html`<option value="${s}" ${f.state === s ? html` selected` : ''}>${s}</option>`)}
        </select></label
      >
      ${text('tag', 'Tag', f, 'gpu')} ${text('mac', 'MAC', f, 'aa:bb:cc:dd:ee:ff')}
      ${text('prefix', 'Name starts with', f, 'web-')}
      <label
        ><input type="checkbox" name="attention" value="true" ${f.attention === 'true' ? html` checked` : ''} /> needs
        attention</label
      >
      <button type="submit">Filter</button>
    </form>
    ${o.error ?? ''}
    <table class="hosts">
      <caption>
        ${o.hosts.length} host${o.hosts.length === 1 ? '' : 's'} on this page${f.after ? html`, after ${f.after}` : ''}
      </caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">State</th>
          <th scope="col">Profile</th>
          <th scope="col">MACs</th>
          <th scope="col">Tags</th>
        </tr>
      </thead>
      <tbody>
        ${o.hosts.map(
          (h) =>
            html`<tr data-host="${h.name}">
              <td>
                <a href="/ui/hosts/${seg(h.name)}">${h.name}</a
                >${h.needsAttention ? html` <span class="flag" title="needs attention">!</span>` : ''}
              </td>
              <td>${stateBadge(h.state)}</td>
              <td>${h.profile ?? ''}</td>
              <td class="mono">${h.nics.map((n) => n.mac).join(' ')}</td>
              <td>${h.tags.join(', ')}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <nav class="pager" aria-label="Pages">
      ${f.after ? html`<a href="/ui/hosts${query(kept)}">First page</a> ` : ''}${o.next ? html`<a rel="next" href="/ui/hosts${query({ ...kept, after: o.next })}">Next page</a>` : ''}
    </nav>`;
}
