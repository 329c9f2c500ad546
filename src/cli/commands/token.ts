import type { Command } from '@commander-js/extra-typings';
import { Option } from '@commander-js/extra-typings';
import { roles } from '../../api/role.js';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

interface TokenJson {
  id: string;
  name: string;
  role: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** `kiln token create|list|revoke` (admin). */
export function registerTokenCommands(program: Command, api: () => ApiClient, o: Output): void {
  const token = program.command('token').description('manage API tokens (admin)');
  token
    .command('create')
    .description('create a token; it is printed once')
    .argument('<name>')
    .addOption(new Option('--role <role>', 'role').choices(roles).default('viewer' as const))
    .option('--expires-in-days <days>', 'expire after this many days')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const res = await api().post<{ token: string; record: TokenJson }>('/api/v1/tokens', {
        name,
        role: opts.role,
        expiresInDays: opts.expiresInDays ? Number(opts.expiresInDays) : undefined,
      });
      emit(o, opts.json, res, () => res.token);
      if (!opts.json) o.err(`token ${name} (${opts.role}) created; it is shown only now`);
    });
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const res = await api().get<{ items: TokenJson[] }>('/api/v1/tokens');
      emit(o, opts.json, res.items, () =>
        formatTable(
          ['ID', 'NAME', 'ROLE', 'CREATED', 'EXPIRES', 'REVOKED', 'LAST USED'],
          res.items.map((t) => [t.id, t.name, t.role, t.createdAt, t.expiresAt, t.revokedAt, t.lastUsedAt]),
        ),
      );
    });
  token
    .command('revoke')
    .description('revoke a token')
    .argument('<token>', 'id or name')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const t = await api().del<TokenJson>(`/api/v1/tokens/${encodeURIComponent(id)}`);
      emit(o, opts.json, t, () => `revoked ${t.name} at ${t.revokedAt}`);
    });
}
