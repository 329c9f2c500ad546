import type {
  DeploymentView,
  EventView,
  HostView,
  LogLineView,
  PowerView,
  SessionView,
  TimelineView,
  HealthView,
} from './api-types.js';
import { html, query, seg, type Html } from './html.js';
import { healthFragment } from './health-page.js';
import { csrfField, stateBadge, when, type Viewer } from './layout.js';

/** Everything the host page shows; each part may be missing when its API call failed or found nothing. */
export interface HostPageData {
  host: HostView;
  viewer: Viewer;
  /** The user's role may deploy, release and power (the API's operator routes). */
  canAct: boolean;
  profiles: string[];
  power: PowerView | { error: string } | null;
  hardwareChange: EventView | null;
  sessions: SessionView[];
  timeline: TimelineView | null;
  logs: LogLineView[];
  deployment: DeploymentView | null;
  /** The heartbeat health (GET /hosts/{host}/health); null when the API gave none. */
  health: HealthView | null;
  /** While deploying: the installer's status page on the node (the current deployment's statusUrl). */
  statusUrl?: string | null;
}

const base = (h: HostView) => `/ui/hosts/${seg(h.name)}`;

/** State, profile and the actions the user's role allows (none for a viewer). */
export function summaryFragment(
  d: Pick<HostPageData, 'host' | 'viewer' | 'canAct' | 'profiles' | 'power' | 'statusUrl'>,
): Html {
  const h = d.host;
  const p = d.power;
  return html`<dl class="summary">
      <dt>State</dt>
      <dd id="host-state" data-state="${h.state}">
        ${stateBadge(h.state)}${h.stateReason ? html` <span class="reason">${h.stateReason}</span>` : ''}
      </dd>
      ${
        d.statusUrl?.startsWith('http://')
          ? html`<dt>Installer</dt>
              <dd>
                <a id="installer-status" href="${d.statusUrl}" rel="noopener noreferrer">status page</a>
                <span class="muted">(read-only, served by the node while it installs)</span>
              </dd>`
          : ''
      }
      <dt>Profile</dt>
      <dd>${h.profile ?? 'none'}</dd>
      <dt>Firmware</dt>
      <dd>${h.firmware ?? 'unknown'}</dd>
      <dt>NICs</dt>
      <dd class="mono">${h.nics.map((n) => html`${n.mac}${n.name ? ` (${n.name})` : ''}${n.boot ? ' boot' : ''} `)}</dd>
      <dt>Tags</dt>
      <dd>${h.tags.join(', ') || 'none'}</dd>
      <dt>Labels</dt>
      <dd>${Object.entries(h.labels).map(([k, v]) => html`<span class="label-kv">${k}=${v}</span> `)}</dd>
      <dt>Hardware hash</dt>
      <dd class="mono">${h.hardwareHash ?? 'none yet'}</dd>
      <dt>Power</dt>
      <dd id="power">
        ${
          !h.bmc
            ? 'no BMC'
            : p && 'error' in p
              ? html`unknown (${p.error})`
              : html`${p?.state ?? 'unknown'} <span class="muted">(${h.bmc.driver})</span>`
        }
      </dd>
    </dl>
    ${d.canAct ? actions(d) : ''}`;
}

function actions(d: Pick<HostPageData, 'host' | 'viewer' | 'profiles' | 'power'>): Html {
  const h = d.host;
  const p = d.power && !('error' in d.power) ? d.power : null;
  const powerActions = h.bmc ? (p?.capabilities?.powerActions ?? ['on', 'off', 'cycle']) : [];
  const canDeploy = ['ready', 'deployed', 'failed'].includes(h.state);
  const canRelease = ['deployed', 'deploying', 'failed'].includes(h.state);
  return html`<div class="actions">
    ${
      canDeploy
        ? html`<form method="post" action="${base(h)}/deploy" class="deploy">
            ${csrfField(d.viewer)}
            <label
              >Profile
              <select name="profile">
                ${d.profiles.map(
                  (n) => html`<option value="${n}" ${n === h.profile ? html` selected` : ''}>${n}</option>`,
                )}
              </select></label
            >
            <label>Variables <input name="variables" placeholder="key=value, key=value" maxlength="2000" /></label>
            <button type="submit" data-action="deploy">Deploy</button>
          </form>`
        : ''
    }
    ${
      canRelease
        ? html`<form method="post" action="${base(h)}/release">
            ${csrfField(d.viewer)}<label><input type="checkbox" name="wipe" value="true" /> wipe disks</label>
            <button type="submit" data-action="release">Release</button>
          </form>`
        : ''
    }
    ${
      powerActions.length
        ? html`<form method="post" action="${base(h)}/power" class="power">
            ${csrfField(d.viewer)}${powerActions.map(
              (a) =>
                html`<button type="submit" name="action" value="${a}" data-action="power-${a}">Power ${a}</button> `,
            )}
          </form>`
        : ''
    }
  </div>`;
}

/** One boot session's stages, and the host's other sessions. */
export function timelineFragment(d: Pick<HostPageData, 'host' | 'sessions' | 'timeline'>): Html {
  const t = d.timeline;
  if (!t) return html`<p class="empty">Kiln has not seen this host network-boot yet.</p>`;
  return html`<p class="session-summary" data-status="${t.status}">
      <strong>${t.status}</strong>: ${t.summary}
      <span class="muted">(session ${t.session}, ${t.purpose}, ${t.firmware}, started ${when(t.startedAt)})</span>
    </p>
    <ol class="timeline">
      ${t.stages.map(
        (s) =>
          html`<li class="outcome-${s.outcome}">
            ${when(s.at)}
            <strong>${s.stage}</strong> ${s.outcome}${s.detail ? html` <span class="detail">${s.detail}</span>` : ''}
          </li>`,
      )}
    </ol>
    ${
      d.sessions.length > 1
        ? html`<details>
            <summary>Other boot sessions (${d.sessions.length})</summary>
            <ul>
              ${d.sessions.map(
                (s) =>
                  html`<li>
                    <a href="${base(d.host)}${query({ session: s.session })}#timeline">${s.session}</a>
                    ${when(s.startedAt)} ${s.status}: ${s.summary}
                  </li>`,
              )}
            </ul>
          </details>`
        : ''
    }`;
}

const severities = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

/** The last syslog lines of the current session (escape sequences are already removed by the API; still escaped here). */
export function logFragment(lines: LogLineView[]): Html {
  if (lines.length === 0) return html`<p class="empty">No syslog lines from this host.</p>`;
  // Inside <pre> every character shows: one log line per line of text, so the formatter must not reflow it.
  // prettier-ignore
  return html`<pre class="log" tabindex="0">${lines.map(
    (l) => html`<span class="sev-${severities[l.severity] ?? 'info'}">${l.receivedAt} ${l.app ?? '-'}: ${l.text}</span>
`,
  )}</pre>`;
}

function hardwareDiff(e: EventView): Html {
  const diff = (e.data as { diff?: Array<{ part: string; before: string; after: string }> } | null)?.diff ?? [];
  return html`<p>${when(e.at)} ${e.message.split('\n')[0]}</p>
    <table class="diff">
      <thead>
        <tr>
          <th scope="col">Part</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        ${diff.map(
          (c) =>
            html`<tr>
              <td>${c.part}</td>
              <td class="before">${c.before || '-'}</td>
              <td class="after">${c.after || '-'}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

/** The whole host page body. */
export function hostBody(d: HostPageData): Html {
  const h = d.host;
  const session = d.timeline?.session;
  return html`<section aria-labelledby="summary-h">
      <h2 id="summary-h">Summary</h2>
      <div id="host-summary" data-live="${base(h)}/fragment/summary" data-kinds="host." data-host="${h.id}">
        ${summaryFragment(d)}
      </div>
    </section>
    <section aria-labelledby="health-h" id="health">
      <h2 id="health-h">Heartbeat health</h2>
      <div id="host-health" data-live="${base(h)}/fragment/health" data-kinds="host." data-host="${h.id}">
        ${healthFragment(d.health)}
      </div>
    </section>
    ${
      d.hardwareChange
        ? html`<section aria-labelledby="hw-h">
            <h2 id="hw-h">Hardware change</h2>
            ${hardwareDiff(d.hardwareChange)}
          </section>`
        : ''
    }
    <section aria-labelledby="timeline-h" id="timeline">
      <h2 id="timeline-h">Boot timeline</h2>
      <div
        id="host-timeline"
        data-live="${base(h)}/fragment/timeline"
        data-kinds="boot. host. node."
        data-host="${h.id}"
      >
        ${timelineFragment(d)}
      </div>
    </section>
    <section aria-labelledby="log-h">
      <h2 id="log-h">Log of the current session</h2>
      <div id="host-log" data-poll="${base(h)}/fragment/log${query({ session })}" data-every="3000">
        ${logFragment(d.logs)}
      </div>
    </section>
    <section aria-labelledby="files-h">
      <h2 id="files-h">Install files of the current deployment</h2>
      ${
        d.deployment
          ? html`<p>Deployment ${d.deployment.id} of profile ${d.deployment.profile}</p>
              <ul>
                ${d.deployment.files.map((f) => html`<li><a href="${base(h)}/files/${seg(f)}">${f}</a></li>`)}
              </ul>
              ${d.deployment.files.length === 0 ? html`<p class="empty">This deployment has no rendered files.</p>` : ''}`
          : html`<p class="empty">No deployment.</p>`
      }
    </section>
    <section aria-labelledby="facts-h">
      <h2 id="facts-h">Facts</h2>
      ${Object.keys(h.facts).length ? html`<pre class="facts" tabindex="0">${JSON.stringify(h.facts, null, 2)}</pre>` : html`<p class="empty">No facts reported yet.</p>`}
    </section>
    <p><a href="/ui/events${query({ host: h.id })}">Events of ${h.name}</a></p>`;
}
