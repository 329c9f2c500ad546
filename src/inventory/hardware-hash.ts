import { createHash } from 'node:crypto';
import { factText } from './fact-text.js';

/**
 * The parts of the facts that identify hardware: NIC MACs and drivers, CPU
 * model and count, installed memory, disks (model, serial, size, rotational),
 * PCI ids and DMI identity. Not link state, speeds, addresses, LLDP or
 * anything else that changes without a hand on the machine.
 */
export type HardwareView = Record<string, string>;

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.map(obj) : []);

/** Memory as reported varies by a few MiB between kernels: round MemTotal to 256 MiB when the installed size is unknown. */
function memoryOf(m: Record<string, unknown>): string {
  if (typeof m['installedBytes'] === 'number') return String(m['installedBytes']);
  const total = Number(m['totalBytes'] ?? 0);
  const unit = 256 * 1024 * 1024;
  return total ? `~${Math.round(total / unit) * unit}` : '';
}

/** Flattens facts to the sorted key/value view that the hash covers; also the input of the side-by-side diff. */
export function hardwareView(facts: Record<string, unknown>): HardwareView {
  const v: HardwareView = {};
  const cpu = obj(facts['cpu']);
  v['cpu.model'] = factText(cpu['model']);
  v['cpu.count'] = factText(cpu['count']);
  v['memory'] = memoryOf(obj(facts['memory']));
  for (const n of arr(facts['nics'])) v[`nic ${factText(n['mac']).toLowerCase()}`] = factText(n['driver']);
  for (const d of arr(facts['disks'])) {
    const id = factText(d['serial']) || factText(d['name']);
    v[`disk ${id}`] =
      `${factText(d['model'])} ${factText(d['sizeBytes'])} bytes${d['rotational'] === true ? ' rotational' : ''}`.trim();
  }
  for (const p of arr(facts['pci']))
    v[`pci ${factText(p['slot'])}`] = `${factText(p['vendor'])}:${factText(p['device'])} class ${factText(p['class'])}`;
  const dmi = obj(facts['dmi']);
  for (const k of ['vendor', 'product', 'serial', 'uuid', 'boardSerial', 'chassisSerial'])
    if (factText(dmi[k])) v[`dmi.${k}`] = factText(dmi[k]);
  return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A stable hash of the hardware view: `sha256:` + 16 hex characters. */
export function hardwareHash(facts: Record<string, unknown>): string {
  const view = hardwareView(facts);
  const text = Object.entries(view)
    .map(([k, val]) => `${k}=${val}`)
    .join('\n');
  return `sha256:${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/** One changed line of the side-by-side diff; '' on a side means absent. */
export interface HardwareChange {
  part: string;
  before: string;
  after: string;
}

/** What changed between two fact sets, part by part (added, removed, changed). */
export function hardwareDiff(before: Record<string, unknown>, after: Record<string, unknown>): HardwareChange[] {
  const a = hardwareView(before);
  const b = hardwareView(after);
  const parts = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return parts.filter((p) => a[p] !== b[p]).map((p) => ({ part: p, before: a[p] ?? '', after: b[p] ?? '' }));
}

/** Renders a diff as two aligned columns for events and the CLI. */
export function formatHardwareDiff(changes: HardwareChange[]): string {
  const w1 = Math.max(4, ...changes.map((c) => c.part.length));
  const w2 = Math.max(6, ...changes.map((c) => c.before.length));
  return [
    `${'PART'.padEnd(w1)}  ${'BEFORE'.padEnd(w2)}  AFTER`,
    ...changes.map((c) => `${c.part.padEnd(w1)}  ${(c.before || '-').padEnd(w2)}  ${c.after || '-'}`),
  ].join('\n');
}
