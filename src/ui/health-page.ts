import type { DoctorView, HealthView, UnreachableView } from './api-types.js';
import { html, seg, type Html } from './html.js';
import { when } from './layout.js';

const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
const pct = (used: number, size: number) => (size > 0 ? `${Math.round((100 * used) / size)} %` : '?');

function uptime(s: number): string {
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min`;
}

type Smart = NonNullable<NonNullable<HealthView['report']>['smart']>[number];
const smartText = (s: Smart): string =>
  `${s.device} ${s.passed === null ? 'unknown' : s.passed ? 'passed' : 'FAILED'}` +
  (s.reallocatedSectors !== null ? `, ${s.reallocatedSectors} reallocated` : '');

/** A host's heartbeat health (docs/heartbeat.md): status, last report and its counters; null when the API gave none. */
export function healthFragment(hv: HealthView | null): Html {
  if (!hv) return html`<p class="empty">Health is not available.</p>`;
  const r = hv.report;
  const status = html`<p class="health" data-health="${hv.status}">
    <strong>${hv.status}</strong>
    ${
      hv.status === 'never'
        ? ' — no heartbeat yet (the agent runs on deployed hosts)'
        : html` — last heard ${hv.lastSeenAt ? when(hv.lastSeenAt) : 'never'}${hv.lastIp ? ` from ${hv.lastIp}` : ''};
          every ${hv.intervalSeconds} s, unreachable after ${hv.missedIntervals} missed`
    }
  </p>`;
  if (!r) return status;
  const counters = [
    r.machineChecks !== null ? `machine checks ${r.machineChecks}` : '',
    r.edac ? `EDAC correctable ${r.edac.correctable}, uncorrectable ${r.edac.uncorrectable}` : '',
  ].filter(Boolean);
  return html`${status}
    <dl class="summary">
      <dt>Boot</dt>
      <dd class="mono">${r.bootId} (up ${uptime(r.uptimeSeconds)})${r.session ? `, session ${r.session}` : ''}</dd>
      <dt>Kernel</dt>
      <dd class="mono">${r.kernel}</dd>
      <dt>Load</dt>
      <dd>${r.load.map((l) => l.toFixed(2)).join(' ')}</dd>
      <dt>Memory</dt>
      <dd>${r.memory ? `${gib(r.memory.availableBytes)} free of ${gib(r.memory.totalBytes)}` : 'not reported'}</dd>
      <dt>Disks</dt>
      <dd>
        ${r.disks.length ? r.disks.map((d) => html`<span class="label-kv">${d.mount} ${pct(d.usedBytes, d.sizeBytes)} used</span> `) : 'none reported'}
      </dd>
      <dt>Failed units</dt>
      <dd>${r.failedUnits === null ? 'not reported' : r.failedUnits.join(', ') || 'none'}</dd>
      <dt>Hardware counters</dt>
      <dd>${counters.join('; ') || 'none reported'}</dd>
      <dt>SMART</dt>
      <dd>
        ${
          r.smart === null || r.smart.length === 0
            ? 'not reported'
            : r.smart.map((s) => html`<span class="label-kv">${smartText(s)}</span> `)
        }
      </dd>
      <dt>Re-audit</dt>
      <dd>${hv.hardware.auditedAt ? html`hardware hash checked ${when(hv.hardware.auditedAt)}` : 'not yet'}</dd>
    </dl>`;
}

/** The overview's list of unreachable hosts. */
export function unreachableSection(list: readonly UnreachableView[]): Html {
  return html`<section aria-labelledby="unreachable-h">
    <h2 id="unreachable-h">Unreachable hosts</h2>
    ${
      list.length === 0
        ? html`<p class="empty">None.</p>`
        : html`<ul class="events" id="unreachable">
            ${list.map(
              (h) =>
                html`<li>
                  <a href="/ui/hosts/${seg(h.hostName)}#health">${h.hostName}</a>: last heard ${when(h.lastSeenAt)} from
                  ${h.lastIp}
                </li>`,
            )}
          </ul>`
    }
  </section>`;
}

/** The controller self-check page (kiln doctor): every check, its status, what it saw and its fix. */
export function doctorBody(d: DoctorView): Html {
  return html`<p class="health" data-doctor="${d.status}">
      Overall: <strong>${d.status}</strong> <span class="muted">(run ${when(d.at)})</span>
    </p>
    <table id="checks">
      <thead>
        <tr>
          <th scope="col">Check</th>
          <th scope="col">Status</th>
          <th scope="col">What it saw</th>
          <th scope="col">Fix</th>
        </tr>
      </thead>
      <tbody>
        ${d.checks.map(
          (c) =>
            html`<tr data-check="${c.name}" data-status="${c.status}">
              <td class="mono">${c.name}</td>
              <td><strong>${c.status}</strong></td>
              <td>${c.detail}</td>
              <td>${c.fix ?? ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}
