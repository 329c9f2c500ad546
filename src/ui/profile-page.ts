import type { ProfileView } from './api-types.js';
import { html, seg, type Html } from './html.js';
import { csrfField, notice, type Viewer } from './layout.js';

/** Result of validating every profile directory (POST /api/v1/profiles/validate). */
export interface ValidationView {
  name: string;
  ok: boolean;
  issues: Array<{ path: string; message: string }>;
}

/** A rendered preview (a deploy dry run): the files a host would get. */
export interface PreviewView {
  host: string;
  profile: string;
  files: Record<string, string>;
  error?: string;
}

/** Profiles, their validation, and (for roles that may deploy) a rendered preview for one host. */
export function profilesBody(o: {
  viewer: Viewer;
  profiles: ProfileView[];
  invalid: Array<{ message: string }>;
  validation: ValidationView[] | null;
  canPreview: boolean;
  preview: PreviewView | null;
}): Html {
  return html`<table>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Description</th>
          <th scope="col">Install</th>
        </tr>
      </thead>
      <tbody>
        ${o.profiles.map(
          (p) =>
            html`<tr>
              <td>${p.name}</td>
              <td>${typeof p['description'] === 'string' ? p['description'] : ''}</td>
              <td>${typeof p['installMethod'] === 'string' ? p['installMethod'] : ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${
      o.invalid.length
        ? html`<h2>Not loaded (invalid)</h2>
            <ul>
              ${o.invalid.map((e) => html`<li>${e.message}</li>`)}
            </ul>`
        : ''
    }
    <h2>Validation</h2>
    <form method="post" action="/ui/profiles/validate">
      ${csrfField(o.viewer)}<button type="submit">Validate all profiles now</button>
    </form>
    ${
      o.validation
        ? html`<ul class="validation">
            ${o.validation.map(
              (v) =>
                html`<li class="${v.ok ? 'ok' : 'bad'}">
                  ${v.name}:
                  ${v.ok ? 'valid' : 'invalid'}${
                    v.issues.length
                      ? html`<ul>
                          ${v.issues.map((i) => html`<li>${i.path}: ${i.message}</li>`)}
                        </ul>`
                      : ''
                  }
                </li>`,
            )}
          </ul>`
        : ''
    }
    ${
      o.canPreview
        ? html`<h2>Rendered preview for a host</h2>
            <form method="post" action="/ui/profiles/preview">
              ${csrfField(o.viewer)}
              <label>Host <input name="host" required maxlength="253" value="${o.preview?.host ?? ''}" /></label>
              <label
                >Profile
                <select name="profile">
                  ${o.profiles.map((p) => html`<option value="${p.name}" ${o.preview?.profile === p.name ? html` selected` : ''}>${p.name}</option>`)}
                </select></label
              >
              <label>Variables <input name="variables" placeholder="key=value, key=value" maxlength="2000" /></label>
              <button type="submit">Render</button>
            </form>
            ${o.preview?.error ? notice('error', o.preview.error) : ''}
            ${Object.entries(o.preview?.files ?? {}).map(
              ([name, text]) =>
                html`<h3>${name}</h3>
                  <pre class="file" tabindex="0" id="preview-${seg(name)}">${text}</pre>`,
            )}`
        : ''
    }`;
}
