import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { readFileSync } from 'node:fs';
import { KilnError } from '../../error/kiln-error.js';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

interface StatusJson {
  host: string;
  driver: string;
  state: string | null;
  recorded: string | null;
  capabilities: { powerActions: string[]; bootOnce: string[]; bootPersistent: string[] };
}
export interface BatchJson {
  items: Array<{ host: string; ok: boolean; error?: { code: string; message: string } }>;
  admission: {
    window: number;
    maxWindow: number;
    rate: number;
    maxRate: number;
    cuts: number;
    lastCut: string | null;
    waitedMs: number;
  } | null;
}
interface EnlistJson {
  created: Array<{ name: string; systemId: string; macs: string[] }>;
  updated: Array<{ name: string; systemId: string; macs: string[] }>;
}

/** `--pacing` of a paced batch (`power-on-batch`, `deploy-batch`); `what` is one host's start. */
export const pacingOption = (what: string) =>
  new Option(
    '--pacing <how>',
    `headroom: each ${what} waits for room in DHCP, TFTP, HTTP and boots in progress; stagger: the stagger alone`,
  )
    .choices(['headroom', 'stagger'] as const)
    .default('headroom' as const);

/** `--stagger`'s help: the delay between `what`. */
export const staggerHelp = (what: string): string =>
  `delay between ${what} (500ms, 2s, 1m; default 0 with headroom pacing, 2s with stagger)`;

/** A paced batch's `pacing`, `staggerMs` and `maxParallel` from its flags; a bad one is a usage error. */
export function pacingBody(opts: { pacing: 'headroom' | 'stagger'; stagger?: string; maxParallel: string }): {
  pacing: 'headroom' | 'stagger';
  staggerMs?: number;
  maxParallel: number;
} {
  const maxParallel = Number(opts.maxParallel);
  if (!Number.isInteger(maxParallel) || maxParallel < 1)
    throw new KilnError('validation_failed', `--max-parallel must be a whole number ≥ 1, got "${opts.maxParallel}"`);
  return {
    pacing: opts.pacing,
    ...(opts.stagger !== undefined ? { staggerMs: parseDuration(opts.stagger, '--stagger') } : {}),
    maxParallel,
  };
}

/** What admission control saw in a paced batch, as one line (none with stagger pacing). */
export function formatAdmission(a: BatchJson['admission']): string[] {
  if (!a) return [];
  return [
    `admission: up to ${a.maxWindow} booting at once (${a.window} at the end), up to ${Math.round(a.maxRate)} power-ons/s (${Math.round(a.rate)} at the end), waited ${(a.waitedMs / 1000).toFixed(1)} s, ${a.cuts} cut${a.cuts === 1 ? '' : 's'}${a.lastCut ? ` (last: ${a.lastCut})` : ''}`,
  ];
}

const enc = encodeURIComponent;
const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Parses `500ms`, `2s`, `1m` (a bare number is seconds) into milliseconds; throws a usage-style error otherwise. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new KilnError('validation_failed', `${flag} must be a duration such as 500ms, 2s or 1m, got "${text}"`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}

/** `--option key=value` pairs; values that parse as JSON (numbers, true, objects) are taken as such. */
function parseOptions(pairs: string[] | undefined): Record<string, unknown> {
  return Object.fromEntries(
    (pairs ?? []).map((p) => {
      const i = p.indexOf('=');
      if (i < 1) throw new KilnError('validation_failed', `--option must be KEY=VALUE, got "${p}"`);
      const raw = p.slice(i + 1);
      try {
        return [p.slice(0, i), JSON.parse(raw)];
      } catch {
        return [p.slice(0, i), raw];
      }
    }),
  );
}

/** The BMC password from a file or KILN_BMC_PASSWORD; never from a flag (it would show in `ps`). */
function passwordFrom(file: string | undefined, env: Record<string, string | undefined>): string | undefined {
  return file ? readFileSync(file, 'utf8').replace(/\r?\n$/, '') : env['KILN_BMC_PASSWORD'];
}

function hostCommand(program: Command): Command {
  return (
    (program.commands.find((c) => c.name() === 'host') as Command | undefined) ??
    program.command('host').description('manage hosts')
  );
}

/** `kiln host power|bootdev|power-on-batch`, `kiln bmc enlist`, `kiln power drivers`. */
export function registerPowerCommands(
  program: Command,
  api: () => ApiClient,
  o: Output,
  env: Record<string, string | undefined>,
): void {
  const host = hostCommand(program);

  host
    .command('power')
    .description("read or change a host's power through its BMC")
    .argument('<host>', 'name or id')
    .argument('<action>', 'on, off, cycle, soft-off or status')
    .option('--reason <text>', 'why (recorded in the events)')
    .option('--json', 'print JSON')
    .action(async (id, action, opts) => {
      if (action === 'status') {
        const s = await api().get<StatusJson>(`/api/v1/hosts/${enc(id)}/power`);
        emit(o, opts.json, s, () =>
          formatTable(
            ['HOST', 'DRIVER', 'POWER', 'RECORDED', 'ACTIONS'],
            [[s.host, s.driver, s.state ?? 'n/a (no status)', s.recorded, s.capabilities.powerActions.join(',')]],
          ),
        );
        return;
      }
      if (!['on', 'off', 'cycle', 'soft-off'].includes(action))
        throw new KilnError(
          'validation_failed',
          `action must be on, off, cycle, soft-off or status, got "${action}"; see \`kiln host power --help\``,
        );
      const r = await api().post<{ host: string; action: string }>(`/api/v1/hosts/${enc(id)}/power`, {
        action,
        reason: opts.reason,
      });
      emit(o, opts.json, r, () => `${r.host}: power ${r.action} done`);
    });

  host
    .command('bootdev')
    .description('set the next (or every) boot device')
    .argument('<host>', 'name or id')
    .argument('<device>', 'network, disk or http')
    .option('--persistent', 'every boot, not only the next')
    .option('--reason <text>')
    .option('--json', 'print JSON')
    .action(async (id, device, opts) => {
      const r = await api().put<{ host: string; device: string; persistent: boolean }>(
        `/api/v1/hosts/${enc(id)}/boot-device`,
        { device, persistent: opts.persistent ?? false, reason: opts.reason },
      );
      emit(o, opts.json, r, () => `${r.host}: boot from ${r.device} ${r.persistent ? 'always' : 'next time'}`);
    });

  host
    .command('power-on-batch')
    .description("power on many hosts, paced by the data plane's headroom (or a fixed stagger)")
    .argument('<hosts...>', 'names or ids')
    .addOption(pacingOption('start'))
    .option('--stagger <duration>', staggerHelp('starts'))
    .option('--max-parallel <n>', 'operations at once', '20')
    .option('--boot-network', 'set a network boot override first')
    .option('--reason <text>')
    .option('--json', 'print JSON')
    .action(async (hosts, opts) => {
      const r = await api().post<BatchJson>('/api/v1/power/batch', {
        hosts,
        action: 'on',
        ...pacingBody(opts),
        bootNetwork: opts.bootNetwork ?? false,
        reason: opts.reason,
      });
      emit(o, opts.json, r.items, () =>
        [
          formatTable(
            ['HOST', 'RESULT', 'ERROR'],
            r.items.map((i) => [
              i.host,
              i.ok ? 'on' : 'failed',
              i.error ? `${i.error.message} [${i.error.code}]` : null,
            ]),
          ),
          ...formatAdmission(r.admission),
        ].join('\n'),
      );
      const failed = r.items.filter((i) => !i.ok).length;
      if (failed > 0) throw new KilnError('bmc_error', `${failed} of ${r.items.length} hosts did not power on`);
    });

  const bmc = program.command('bmc').description('BMCs and hypervisors');
  bmc
    .command('enlist')
    .description('create or update one host per system a BMC or hypervisor manages (matched by MAC)')
    .requiredOption('--driver <driver>', 'redfish, libvirt or ipmi (any driver that can enumerate)')
    .requiredOption('--address <address>', 'BMC address or libvirt URI')
    .option('--user <user>', 'BMC user')
    .option('--password-file <file>', 'file holding the BMC password (or set KILN_BMC_PASSWORD)')
    .option('--option <key=value>', 'driver option for every host (repeatable)', collect)
    .option('--reason <text>')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const password = passwordFrom(opts.passwordFile, env);
      const r = await api().post<EnlistJson>('/api/v1/bmc/enlist', {
        driver: opts.driver,
        address: opts.address,
        username: opts.user,
        options: parseOptions(opts.option),
        reason: opts.reason,
        ...(password !== undefined ? { password } : {}),
      });
      emit(o, opts.json, r, () =>
        formatTable(
          ['HOST', 'CHANGE', 'SYSTEM', 'MACS'],
          [
            ...r.created.map((h) => [h.name, 'created', h.systemId, h.macs.join(',')]),
            ...r.updated.map((h) => [h.name, 'updated', h.systemId, h.macs.join(',')]),
          ],
        ),
      );
    });

  const power = program.command('power').description('power drivers');
  power
    .command('drivers')
    .description('power drivers this controller offers')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const r = await api().get<{ items: Array<{ name: string }> }>('/api/v1/power/drivers');
      emit(o, opts.json, r.items, () => r.items.map((i) => i.name).join('\n'));
    });
}
