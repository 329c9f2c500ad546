import type { Command } from '@commander-js/extra-typings';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';
import { registerJoinCommands } from './controller-join.js';

interface MemberJson {
  id: string;
  name: string;
  url: string;
  version: string;
  startedAt: string;
  lastSeen: string;
  silentSeconds: number;
  health: 'healthy' | 'unhealthy' | 'stopped';
  roles: Array<{ role: string; term: number; since: string }>;
  load?: {
    booting: number;
    late: number;
    sign: string | null;
    room: { slots: number; loading: number; waiting: number } | null;
  } | null;
}

/** A member's data plane in a few words: boots in progress (late), its room's loading/slots (+waiting), its sign. */
export function formatLoad(l: MemberJson['load']): string {
  if (!l) return '-';
  const parts = [`${l.booting} booting${l.late ? ` (${l.late} late)` : ''}`];
  if (l.room)
    parts.push(`room ${l.room.loading}/${l.room.slots}${l.room.waiting ? ` +${l.room.waiting} waiting` : ''}`);
  if (l.sign) parts.push(`congested: ${l.sign}`);
  return parts.join(', ');
}

/** Human form of the member list: one line per controller, its roles with their terms. Pure. */
export function formatControllers(items: MemberJson[]): string {
  return formatTable(
    ['NAME', 'HEALTH', 'LAST SEEN', 'ROLES', 'LOAD', 'URL', 'ID'],
    items.map((m) => [
      m.name,
      m.health,
      `${m.silentSeconds}s ago`,
      m.roles.map((r) => `${r.role}#${r.term}`).join(','),
      formatLoad(m.load),
      m.url,
      m.id.slice(0, 8),
    ]),
  );
}

/** `kiln controller list`: the controllers on the store, their health and the singleton roles each holds (viewer). */
export function registerControllerCommands(
  program: Command,
  api: () => ApiClient,
  o: Output,
  env: Record<string, string | undefined> = {},
): void {
  const controller = program
    .command('controller')
    .description('the controllers that share this store (docs/cluster.md)');
  controller
    .command('list')
    .description('each controller on the store: health from its heartbeat and the singleton roles it holds')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const res = await api().get<{ items: MemberJson[] }>('/api/v1/controllers');
      emit(o, opts.json, res, () => formatControllers(res.items));
    });
  registerJoinCommands(controller, {
    api,
    o,
    env,
    token: () => (program.opts() as { token?: string }).token ?? env['KILN_TOKEN'],
  });
}
