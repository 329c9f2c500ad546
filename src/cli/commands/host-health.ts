import type { Command } from '@commander-js/extra-typings';
import type { Static } from '@sinclair/typebox';
import type { HealthReply } from '../../heartbeat/heartbeat-schemas.js';
import { sanitizeForDisplay } from '../../protocols/syslog/display-text.js';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';

/** GET /api/v1/hosts/{host}/health as the API answers it. */
export type HealthJson = Static<typeof HealthReply>;

const s = (t: string) => sanitizeForDisplay(t);
const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
const pct = (used: number, size: number) => (size > 0 ? `${Math.round((used / size) * 100)}%` : '-');
const orNone = (v: number | null, none: string) => (v === null ? none : String(v));

/** A host's health for a terminal: status and last seen, then the report line by line. */
export function formatHealth(h: HealthJson): string {
  const head = `${s(h.hostName)}: ${h.status}${h.lastSeenAt ? `, last heartbeat ${h.lastSeenAt} from ${h.lastIp}` : ', no heartbeat yet'} (every ${h.intervalSeconds} s; unreachable after ${h.missedIntervals} missed)`;
  const r = h.report;
  if (!r) return head;
  const lines = [
    head,
    `boot     ${r.bootId}, up ${Math.round(r.uptimeSeconds)} s (since ${h.bootedAt})${r.session ? `, session ${s(r.session)}` : ''}`,
    `kernel   ${s(r.kernel)}`,
    `load     ${r.load.join(' ')}`,
    `memory   ${r.memory ? `${gib(r.memory.availableBytes)} available of ${gib(r.memory.totalBytes)}` : '-'}`,
    ...r.disks.map((d) => `disk     ${s(d.mount)} ${pct(d.usedBytes, d.sizeBytes)} used of ${gib(d.sizeBytes)}`),
    `failed   ${r.failedUnits === null ? '(no systemd)' : r.failedUnits.length ? r.failedUnits.map(s).join(', ') : 'none'}`,
    `mce      ${orNone(r.machineChecks, '(unreadable)')}`,
    `edac     ${r.edac ? `${r.edac.correctable} corrected, ${r.edac.uncorrectable} uncorrected` : '(none)'}`,
    `smart    ${r.smart === null ? '(no smartctl)' : r.smart.map((x) => `${s(x.device)} ${x.passed === null ? '?' : x.passed ? 'PASSED' : 'FAILED'}${x.reallocatedSectors ? ` (${x.reallocatedSectors} reallocated)` : ''}`).join(', ') || 'no disks'}`,
    `hardware ${h.hardware.hash ?? '-'}${h.hardware.auditedAt ? ` (re-audited ${h.hardware.auditedAt})` : ''}`,
  ];
  return lines.join('\n');
}

/** `kiln host health HOST [--json]`. */
export function registerHostHealthCommand(host: Command, api: () => ApiClient, o: Output): void {
  host
    .command('health')
    .description("a host's last heartbeat: ok, late or unreachable, its boot, load, memory, disks and error counts")
    .argument('<host>', 'name or id')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const h = await api().get<HealthJson>(`/api/v1/hosts/${encodeURIComponent(id)}/health`);
      emit(o, opts.json, h, () => formatHealth(h));
    });
}
