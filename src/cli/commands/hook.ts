import type { Command } from '@commander-js/extra-typings';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

interface HookJson {
  type: 'http' | 'exec';
  id: string;
  name: string;
  url?: string;
  command?: string[];
  kinds: string[];
  hostId?: string | null;
  host?: string | null;
  enabled: boolean;
}

interface DeliveryJson {
  id: string;
  eventSeq: number;
  eventKind: string;
  status: string;
  attempts: number;
  nextAt: string;
  lastStatus: number | null;
  lastError: string | null;
  updatedAt: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];
const target = (h: HookJson) => (h.type === 'http' ? (h.url ?? '') : (h.command ?? []).join(' '));
const path = (h: string) => `/api/v1/hooks/${encodeURIComponent(h)}`;

/** `kiln hook add|list|show|delete|deliveries` (admin). Executable hooks come from the config file and are listed only. */
export function registerHookCommands(program: Command, api: () => ApiClient, o: Output): void {
  const hook = program.command('hook').description('outbound hooks: signed HTTP POSTs on events (admin)');
  hook
    .command('add')
    .description('add an HTTP hook; its signing secret is printed once')
    .argument('<name>')
    .argument('<url>', 'http(s) URL the events are POSTed to')
    .requiredOption(
      '--kind <prefix>',
      'event kind prefix (host., host.state_changed) or *; repeat for several',
      collect,
      [],
    )
    .option('--host <host>', "only this host's events")
    .option('--disabled', 'create it paused')
    .option('--json', 'print JSON')
    .action(async (name, url, opts) => {
      const res = await api().post<{ secret: string; hook: HookJson }>('/api/v1/hooks', {
        name,
        url,
        kinds: opts.kind,
        host: opts.host,
        enabled: !opts.disabled,
      });
      emit(o, opts.json, res, () => res.secret);
      if (!opts.json) o.err(`hook ${name} created; its signing secret (above) is shown only now (docs/hooks.md)`);
    });
  hook
    .command('list')
    .description('list hooks (HTTP hooks and the executable hooks of the config file)')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const res = await api().get<{ items: HookJson[] }>('/api/v1/hooks');
      emit(o, opts.json, res.items, () =>
        formatTable(
          ['NAME', 'TYPE', 'TARGET', 'KINDS', 'ENABLED'],
          res.items.map((h) => [h.name, h.type, target(h), h.kinds.join(','), h.enabled ? 'yes' : 'no']),
        ),
      );
    });
  hook
    .command('show')
    .description('show a hook')
    .argument('<hook>', 'name, id, or exec:<name>')
    .option('--json', 'print JSON')
    .action(async (h, opts) => {
      const res = await api().get<HookJson>(path(h));
      emit(o, opts.json, res, () =>
        formatTable(
          ['FIELD', 'VALUE'],
          [
            ['id', res.id],
            ['name', res.name],
            ['type', res.type],
            ['target', target(res)],
            ['kinds', res.kinds.join(',')],
            ['host', res.hostId ?? res.host ?? ''],
            ['enabled', res.enabled ? 'yes' : 'no'],
          ],
        ),
      );
    });
  hook
    .command('delete')
    .description('delete an HTTP hook with its queue and history')
    .argument('<hook>', 'name or id')
    .action(async (h) => {
      await api().del(path(h));
      o.out(`deleted hook ${h}`);
    });
  hook
    .command('deliveries')
    .description("a hook's deliveries, newest event first")
    .argument('<hook>', 'name, id, or exec:<name>')
    .option('--status <status>', 'pending, delivered or dead')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(async (h, opts) => {
      const q = new URLSearchParams({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}) });
      const res = await api().get<{ items: DeliveryJson[] }>(`${path(h)}/deliveries?${q.toString()}`);
      emit(o, opts.json, res.items, () =>
        formatTable(
          ['DELIVERY', 'EVENT', 'KIND', 'STATUS', 'ATTEMPTS', 'LAST', 'ERROR', 'NEXT/LAST AT'],
          res.items.map((d) => [
            d.id,
            String(d.eventSeq),
            d.eventKind,
            d.status,
            String(d.attempts),
            d.lastStatus === null ? '' : String(d.lastStatus),
            d.lastError ?? '',
            d.nextAt,
          ]),
        ),
      );
    });
}
