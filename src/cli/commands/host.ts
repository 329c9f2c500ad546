import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import type { Static } from '@sinclair/typebox';
import type { HostListItem, HostReply } from '../../inventory/host-schemas.js';
import { readFileSync } from 'node:fs';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';
import { formatSessions, formatTimeline, type SessionJson, type TimelineJson } from './timeline-view.js';
import { registerHostLogsCommand } from './host-logs.js';
import { registerHostVerify } from './host-verify.js';
import { registerHostHealthCommand } from './host-health.js';
import { registerHostTestCommands } from './host-test.js';

/** A host as the API answers it; list items also carry `health`. */
type HostJson = Static<typeof HostReply> & Partial<Pick<Static<typeof HostListItem>, 'health'>>;
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

const hostRow = (h: HostJson) => [
  h.name,
  h.state + (h.needsAttention ? '!' : ''),
  h.profile,
  h.nics.find((n) => n.boot)?.mac,
  h.tags.join(','),
  h.health ?? '-',
];

/**
 * Prints a host list page by page. JSON goes out as it arrives (the same
 * array `JSON.stringify(all, null, 2)` prints, one host behind so the last
 * needs no comma); the table keeps only its rows' cells (not the hosts) until
 * the end, where it knows the column widths.
 */
function streamHosts(o: Output, json: boolean | undefined): { page(items: HostJson[]): void; end(): void } {
  const rows: ReturnType<typeof hostRow>[] = [];
  let held: HostJson | undefined;
  let first = true;
  const put = (h: HostJson, comma: boolean) => {
    o.out(`${first ? '[\n' : ''}${JSON.stringify(h, null, 2).replace(/^/gm, '  ')}${comma ? ',' : ''}`);
    first = false;
  };
  return {
    page(items) {
      for (const h of items) {
        if (!json) rows.push(hostRow(h));
        else {
          if (held) put(held, true);
          held = h;
        }
      }
    },
    end() {
      if (!json) return o.out(formatTable(['NAME', 'STATE', 'PROFILE', 'BOOT MAC', 'TAGS', 'HEALTH'], rows));
      if (held) put(held, false);
      o.out(first ? '[]' : ']');
    },
  };
}

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
    .description('list hosts by name; every filter given must match')
    .option('--state <state>')
    .option('--tag <tag>')
    .option('--label <key=value>', 'hosts whose label key is exactly value')
    .option('--mac <mac>')
    .option('--prefix <prefix>', 'hosts whose name starts with this (API: prefix=)')
    .option('--profile <profile>')
    .option('--health <health>', 'deployed hosts whose heartbeat health is ok, late, unreachable or never')
    .option('--limit <n>', 'page size (default 100; 1000 with --all)')
    .option('--after <cursor>', "start after this cursor (a page's `next`) or host name")
    .option('--all', 'follow pages until the end, printing each as it arrives')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const query = (after: string | undefined) =>
        new URLSearchParams(
          Object.entries({
            state: opts.state,
            tag: opts.tag,
            label: opts.label,
            mac: opts.mac,
            prefix: opts.prefix,
            profile: opts.profile,
            health: opts.health,
            limit: opts.limit ?? (opts.all ? '1000' : '100'),
            after,
          }).filter((e): e is [string, string] => e[1] !== undefined),
        ).toString();
      const fetchPage = (after: string | undefined) =>
        api().get<{ items: HostJson[]; next: string | null }>(`/api/v1/hosts?${query(after)}`);
      const print = streamHosts(o, opts.json);
      let pending = fetchPage(opts.after);
      for (let page = 0; page < 100_000; page++) {
        const res = await pending;
        // Ask for the next page before printing this one: the server works while we format.
        const more = opts.all === true && res.next !== null;
        if (more) pending = fetchPage(res.next!);
        print.page(res.items);
        if (!more) break;
      }
      print.end();
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

  registerHostLogsCommand(host, api, o);
  registerHostHealthCommand(host, api, o);
  registerHostTestCommands(host, api, o);

  host
    .command('timeline')
    .description(
      "a host's boot timeline: one session's stages in order and where it stopped (default: the newest session)",
    )
    .argument('<host>', 'name or id')
    .option('--session <id>', 'this boot session')
    .option('--sessions', "list the host's boot sessions instead")
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      if (opts.sessions) {
        const res = await api().get<{ items: SessionJson[] }>(`/api/v1/hosts/${enc(id)}/sessions`);
        emit(o, opts.json, res.items, () => formatSessions(res.items));
        return;
      }
      const qs = opts.session ? `?${new URLSearchParams({ session: opts.session }).toString()}` : '';
      const t = await api().get<TimelineJson>(`/api/v1/hosts/${enc(id)}/timeline${qs}`);
      emit(o, opts.json, t, () => formatTimeline(t));
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
