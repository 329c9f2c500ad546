import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { readFileSync } from 'node:fs';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';
import { registerHostVerify } from './host-verify.js';
import { formatLogLine, type LogLineJson } from './log-line.js';

interface HostJson {
  id: string;
  name: string;
  state: string;
  stateReason: string | null;
  failedStage: string | null;
  profile: string | null;
  firmware: string | null;
  nics: Array<{ mac: string; name: string | null; boot: boolean }>;
  tags: string[];
  labels: Record<string, string>;
  facts: Record<string, unknown>;
  hardwareHash: string | null;
  needsAttention: boolean;
  bmc: { driver: string; address: string | null; username: string | null; hasPassword: boolean } | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}
interface EventJson {
  seq: number;
  at: string;
  actor: string;
  kind: string;
  message: string;
  reason: string | null;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const enc = encodeURIComponent;

function parseLabels(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs) return undefined;
  return Object.fromEntries(
    pairs.map((p) => {
      const i = p.indexOf('=');
      if (i < 1) throw new Error(`--label must be KEY=VALUE, got "${p}"`);
      return [p.slice(0, i), p.slice(i + 1)];
    }),
  );
}

/** The BMC password comes from KILN_BMC_PASSWORD or a file, never from a flag (it would show in `ps`). */
function bmcFrom(
  o: { bmcDriver?: string; bmcAddress?: string; bmcUser?: string; bmcPasswordFile?: string },
  env: Record<string, string | undefined>,
) {
  if (!o.bmcDriver) return undefined;
  const password = o.bmcPasswordFile
    ? readFileSync(o.bmcPasswordFile, 'utf8').replace(/\r?\n$/, '')
    : env['KILN_BMC_PASSWORD'];
  return {
    driver: o.bmcDriver,
    address: o.bmcAddress ?? null,
    username: o.bmcUser ?? null,
    ...(password !== undefined ? { password } : {}),
  };
}

function nicsFrom(macs: string[] | undefined, bootMac: string | undefined) {
  if (!macs) return undefined;
  return macs.map((mac, i) => ({ mac, boot: bootMac ? mac.toLowerCase() === bootMac.toLowerCase() : i === 0 }));
}

function showHost(h: HostJson): string {
  const rows: Array<[string, string]> = [
    ['id', h.id],
    ['name', h.name],
    [
      'state',
      h.state + (h.stateReason ? ` (${h.stateReason})` : '') + (h.failedStage ? ` [stage ${h.failedStage}]` : ''),
    ],
    ['profile', h.profile ?? '-'],
    ['firmware', h.firmware ?? '-'],
    ['nics', h.nics.map((n) => `${n.mac}${n.name ? ` ${n.name}` : ''}${n.boot ? ' (boot)' : ''}`).join(', ') || '-'],
    ['tags', h.tags.join(', ') || '-'],
    [
      'labels',
      Object.entries(h.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '-',
    ],
    ['hardware hash', h.hardwareHash ?? '-'],
    ['needs attention', h.needsAttention ? 'yes' : 'no'],
    [
      'bmc',
      h.bmc
        ? `${h.bmc.driver} ${h.bmc.address ?? ''} user=${h.bmc.username ?? '-'} password=${h.bmc.hasPassword ? 'set' : 'unset'}`
        : '-',
    ],
    ['version', String(h.version)],
    ['created', h.createdAt],
    ['updated', h.updatedAt],
  ];
  return rows.map(([k, v]) => `${k.padEnd(16)}${v}`).join('\n');
}

/** `kiln host add|list|show|edit|delete|events|state`. */
export function registerHostCommands(
  program: Command,
  api: () => ApiClient,
  o: Output,
  env: Record<string, string | undefined>,
): void {
  const host = program.command('host').description('manage hosts');
  registerHostVerify(host, api, o);

  host
    .command('add')
    .description('add a host')
    .argument('<name>', 'host name (RFC 1123)')
    .option('--mac <mac>', 'a NIC MAC (repeat for several; the first boots unless --boot-mac)', collect)
    .option('--boot-mac <mac>', 'the MAC the host network-boots from')
    .option('--tag <tag>', 'a tag (repeatable)', collect)
    .option('--label <key=value>', 'a label (repeatable)', collect)
    .option('--profile <profile>', 'assigned profile')
    .addOption(new Option('--firmware <type>', 'firmware type').choices(['bios', 'uefi'] as const))
    .option('--ready', 'skip discovery: create the host in state ready')
    .option('--bmc-driver <driver>', 'power driver (ipmi, redfish, libvirt, wol, webhook)')
    .option('--bmc-address <address>', 'BMC address')
    .option('--bmc-user <user>', 'BMC user')
    .option('--bmc-password-file <file>', 'file holding the BMC password (or set KILN_BMC_PASSWORD)')
    .option('--reason <text>', 'why (recorded in the event)')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const h = await api().post<HostJson>('/api/v1/hosts', {
        name,
        nics: nicsFrom(opts.mac, opts.bootMac),
        tags: opts.tag,
        labels: parseLabels(opts.label),
        profile: opts.profile,
        firmware: opts.firmware,
        state: opts.ready ? 'ready' : undefined,
        bmc: bmcFrom(opts, env),
        reason: opts.reason,
      });
      emit(o, opts.json, h, () => showHost(h));
    });

  host
    .command('list')
    .description('list hosts')
    .option('--state <state>')
    .option('--tag <tag>')
    .option('--mac <mac>')
    .option('--name-prefix <prefix>')
    .option('--profile <profile>')
    .option('--limit <n>', 'page size', '100')
    .option('--after <name>', 'start after this name')
    .option('--all', 'follow pages until the end')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const items: HostJson[] = [];
      let after = opts.after;
      for (let page = 0; page < 10_000; page++) {
        const qs = new URLSearchParams(
          Object.entries({
            state: opts.state,
            tag: opts.tag,
            mac: opts.mac,
            name_prefix: opts.namePrefix,
            profile: opts.profile,
            limit: opts.limit,
            after,
          }).filter((e): e is [string, string] => e[1] !== undefined),
        );
        const res = await api().get<{ items: HostJson[]; next: string | null }>(`/api/v1/hosts?${qs.toString()}`);
        items.push(...res.items);
        if (!opts.all || !res.next) break;
        after = res.next;
      }
      emit(o, opts.json, items, () =>
        formatTable(
          ['NAME', 'STATE', 'PROFILE', 'BOOT MAC', 'TAGS'],
          items.map((h) => [
            h.name,
            h.state + (h.needsAttention ? '!' : ''),
            h.profile,
            h.nics.find((n) => n.boot)?.mac,
            h.tags.join(','),
          ]),
        ),
      );
    });

  host
    .command('show')
    .description('show one host')
    .argument('<host>', 'name or id')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const h = await api().get<HostJson>(`/api/v1/hosts/${enc(id)}`);
      emit(o, opts.json, h, () => showHost(h));
    });

  host
    .command('edit')
    .description('change a host')
    .argument('<host>', 'name or id')
    .option('--name <name>', 'new name')
    .option('--mac <mac>', 'replace the NIC list (repeatable)', collect)
    .option('--boot-mac <mac>')
    .option('--tag <tag>', 'replace the tags (repeatable)', collect)
    .option('--label <key=value>', 'replace the labels (repeatable)', collect)
    .option('--profile <profile>')
    .option('--no-profile', 'clear the profile')
    .addOption(new Option('--firmware <type>').choices(['bios', 'uefi'] as const))
    .option('--bmc-driver <driver>')
    .option('--bmc-address <address>')
    .option('--bmc-user <user>')
    .option('--bmc-password-file <file>')
    .option('--clear-attention', 'acknowledge a hardware change')
    .option('--if-version <n>', 'only if the host is still at this version')
    .option('--reason <text>')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const body = {
        name: opts.name,
        nics: nicsFrom(opts.mac, opts.bootMac),
        tags: opts.tag,
        labels: parseLabels(opts.label),
        profile: opts.profile === false ? null : opts.profile,
        firmware: opts.firmware,
        bmc: bmcFrom(opts, env),
        needsAttention: opts.clearAttention ? false : undefined,
        reason: opts.reason,
      };
      const h = await api().patch<HostJson>(
        `/api/v1/hosts/${enc(id)}`,
        body,
        opts.ifVersion ? { 'if-match': `"${opts.ifVersion}"` } : {},
      );
      emit(o, opts.json, h, () => showHost(h));
    });

  host
    .command('delete')
    .description('delete a host (its events stay)')
    .argument('<host>', 'name or id')
    .option('--reason <text>')
    .action(async (id, opts) => {
      await api().del(`/api/v1/hosts/${enc(id)}${opts.reason ? `?reason=${enc(opts.reason)}` : ''}`);
      o.err(`deleted ${id}`);
    });

  host
    .command('state')
    .description('move a host to another lifecycle state')
    .argument('<host>', 'name or id')
    .argument('<state>', 'new, discovering, ready, deploying, deployed, releasing, failed, retired')
    .option('--reason <text>')
    .option('--stage <stage>', 'failed stage (with state failed)')
    .option('--json', 'print JSON')
    .action(async (id, state, opts) => {
      const h = await api().post<HostJson>(`/api/v1/hosts/${enc(id)}/state`, {
        state,
        reason: opts.reason,
        failedStage: opts.stage,
      });
      emit(o, opts.json, h, () => showHost(h));
    });

  host
    .command('logs')
    .description("a host's syslog lines, oldest first (the last --limit, or the first --limit since --since)")
    .argument('<host>', 'name or id')
    .option('--session <id>', 'only this boot session')
    .option('--since <time>', 'ISO 8601 time')
    .option('--limit <n>', 'how many', '200')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const qs = new URLSearchParams({
        limit: opts.limit,
        ...(opts.session ? { session: opts.session } : {}),
        ...(opts.since ? { since: opts.since } : {}),
      });
      const res = await api().get<{ items: LogLineJson[] }>(`/api/v1/hosts/${enc(id)}/logs?${qs.toString()}`);
      emit(o, opts.json, res.items, () => res.items.map(formatLogLine).join('\n'));
    });

  host
    .command('events')
    .description("a host's events, oldest first")
    .argument('<host>', 'name or id')
    .option('--after <seq>')
    .option('--limit <n>', 'how many', '100')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const qs = new URLSearchParams({ limit: opts.limit, ...(opts.after ? { after: opts.after } : {}) });
      const res = await api().get<{ items: EventJson[] }>(`/api/v1/hosts/${enc(id)}/events?${qs.toString()}`);
      emit(o, opts.json, res.items, () =>
        formatTable(
          ['SEQ', 'AT', 'ACTOR', 'KIND', 'MESSAGE', 'REASON'],
          res.items.map((e) => [e.seq, e.at, e.actor, e.kind, e.message, e.reason]),
        ),
      );
    });
}
