import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

interface LeaseJson {
  ip: string;
  mac: string;
  subnet: string;
  hostname: string | null;
  state: string;
  expiresAt: string;
  active: boolean;
}

/** `kiln lease list`: the DHCP lease table (read only). */
export function registerLeaseCommands(program: Command, api: () => ApiClient, o: Output): void {
  const lease = program.command('lease').description('DHCP leases');
  lease
    .command('list')
    .description('active leases in address order (--all adds expired ones)')
    .option('--subnet <cidr>', 'one subnet, as configured (10.20.0.0/24)')
    .option('--mac <mac>', 'one client MAC')
    .option('--ip <ip>', 'one address')
    .addOption(
      new Option('--state <state>', 'bound, or declined (DHCPDECLINE: in use elsewhere)').choices([
        'bound',
        'declined',
      ] as const),
    )
    .option('--all', 'include expired leases')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const q = new URLSearchParams();
      if (opts.subnet) q.set('subnet', opts.subnet);
      if (opts.mac) q.set('mac', opts.mac);
      if (opts.ip) q.set('ip', opts.ip);
      if (opts.state) q.set('state', opts.state);
      if (opts.all) q.set('all', 'true');
      const res = await api().get<{ items: LeaseJson[]; total: number }>(
        `/api/v1/leases${q.size ? `?${q.toString()}` : ''}`,
      );
      emit(o, opts.json, res.items, () =>
        formatTable(
          ['IP', 'MAC', 'STATE', 'SUBNET', 'HOSTNAME', 'EXPIRES'],
          res.items.map((l) => [
            l.ip,
            l.mac,
            l.active ? l.state : `${l.state} (expired)`,
            l.subnet,
            l.hostname,
            l.expiresAt,
          ]),
        ),
      );
      if (!opts.json && res.total > res.items.length) o.err(`showing ${res.items.length} of ${res.total} leases`);
    });
}
