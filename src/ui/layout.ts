import type { Role } from '../api/role.js';
import { html, type Html, type HtmlValue } from './html.js';

/** Who is looking at a page: their name, role, and the CSRF token every form carries. */
export interface Viewer {
  name: string;
  role: Role;
  csrf: string;
}

const nav: ReadonlyArray<[string, string]> = [
  ['/', 'Overview'],
  ['/ui/hosts', 'Hosts'],
  ['/ui/events', 'Events'],
  ['/ui/leases', 'Leases'],
  ['/ui/profiles', 'Profiles'],
  ['/ui/network', 'Network'],
  ['/ui/doctor', 'Self-check'],
];

/** The hidden CSRF field of a form that changes something. */
export function csrfField(v: Viewer): Html {
  return html`<input type="hidden" name="_csrf" value="${v.csrf}" />`;
}

/** A whole page: header with navigation and the user's logout form, then `body`. */
export function page(o: { title: string; viewer: Viewer | null; current?: string; body: HtmlValue }): Html {
  const v = o.viewer;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${o.title} · Kiln</title>
        <link rel="stylesheet" href="/ui/static/app.css" />
        <script src="/ui/static/app.js" defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">Kiln</a>
          ${
            v
              ? html`<nav aria-label="Main">
                    <ul>
                      ${nav.map(
                        ([href, label]) =>
                          html`<li>
                            <a href="${href}" ${o.current === href ? html` aria-current="page"` : ''}>${label}</a>
                          </li>`,
                      )}
                    </ul>
                  </nav>
                  <form class="logout" method="post" action="/ui/logout">
                    ${csrfField(v)}<span class="who">${v.name} (${v.role})</span> <button type="submit">Log out</button>
                  </form>`
              : ''
          }
        </header>
        <main id="main">
          <h1>${o.title}</h1>
          ${o.body}
        </main>
      </body>
    </html> `;
}

/** A host state as a labelled badge (colour from the state's class, the word always shown). */
export function stateBadge(state: string): Html {
  return html`<span class="state state-${state}">${state}</span>`;
}

/** A notice line: an error from the API, or a done action. */
export function notice(kind: 'error' | 'ok', text: string): Html {
  return html`<p class="notice notice-${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</p>`;
}

/** A time as the ISO text in a <time> element. */
export function when(iso: string): Html {
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}
