import type { Command } from '@commander-js/extra-typings';
import { readFileSync } from 'node:fs';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface CertJson {
  serial: number;
  kind: string;
  hostId: string | null;
  keyId: string;
  principals: string[];
  validBefore: string;
  revokedAt: string | null;
}

/** `kiln ssh known-hosts|sign-user|certificates|revoke` and `kiln secrets set|show`. */
export function registerSshCommands(
  program: Command,
  api: () => ApiClient,
  o: Output,
  env: Record<string, string | undefined>,
): void {
  const ssh = program.command('ssh').description("Kiln's SSH certificate authority");
  ssh
    .command('known-hosts')
    .description('print the @cert-authority line: add it to ~/.ssh/known_hosts to trust every Kiln host')
    .action(async () => {
      o.out((await api().getText('/api/v1/ssh/known-hosts')).trimEnd());
    });
  ssh
    .command('sign-user')
    .description('sign your public key as a user certificate (prints the certificate line)')
    .argument('<public-key-file>')
    .requiredOption('--principal <name>', 'user name the certificate is valid for (repeatable)', collect)
    .option('--hours <n>', 'validity in hours', '8')
    .option('--json', 'print JSON')
    .action(async (file, opts) => {
      const res = await api().post<{ certificate: string }>('/api/v1/ssh/user-certificates', {
        publicKey: readFileSync(file, 'utf8').trim(),
        principals: opts.principal,
        validHours: Number(opts.hours),
      });
      emit(o, opts.json, res, () => res.certificate);
    });
  ssh
    .command('certificates')
    .description('certificates issued')
    .option('--host <host>')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const res = await api().get<{ items: CertJson[] }>(
        `/api/v1/ssh/certificates${opts.host ? `?host=${encodeURIComponent(opts.host)}` : ''}`,
      );
      emit(o, opts.json, res.items, () =>
        formatTable(
          ['SERIAL', 'KIND', 'KEY ID', 'PRINCIPALS', 'VALID BEFORE', 'REVOKED'],
          res.items.map((c) => [c.serial, c.kind, c.keyId, c.principals.join(','), c.validBefore, c.revokedAt]),
        ),
      );
    });
  ssh
    .command('revoke')
    .description('revoke a certificate by serial, or every certificate of a host')
    .option('--serial <n>')
    .option('--host <host>')
    .option('--reason <text>')
    .action(async (opts) => {
      if (!opts.serial === !opts.host) throw new Error('give exactly one of --serial or --host');
      const path = opts.serial
        ? `/api/v1/ssh/certificates/${Number(opts.serial)}/revoke`
        : `/api/v1/hosts/${encodeURIComponent(opts.host!)}/ssh/revoke`;
      const res = await api().post<{ revoked: number[] }>(path, { reason: opts.reason });
      o.out(`revoked ${res.revoked.join(', ')}`);
    });

  const secrets = program.command('secrets').description('root password and SSH keys given to nodes (admin)');
  secrets
    .command('set')
    .description('set site-wide (or --host) secrets; the password is hashed by the controller at once')
    .option('--host <host>', 'only for this host')
    .option('--root-password-file <file>', 'file with the clear root password (or KILN_ROOT_PASSWORD)')
    .option('--root-password-hash <hash>', 'a crypt(3) hash such as $6$…')
    .option('--no-root-password', 'remove the root password (keys only)')
    .option('--authorized-keys-file <file>', 'replace the authorized keys with the lines of this file')
    .action(async (opts) => {
      const clear = opts.rootPasswordFile
        ? readFileSync(opts.rootPasswordFile, 'utf8').replace(/\r?\n$/, '')
        : env['KILN_ROOT_PASSWORD'];
      const body = {
        ...(opts.rootPassword === false
          ? { rootPassword: null }
          : clear !== undefined
            ? { rootPassword: clear }
            : opts.rootPasswordHash
              ? { rootPasswordHash: opts.rootPasswordHash }
              : {}),
        ...(opts.authorizedKeysFile
          ? {
              authorizedKeys: readFileSync(opts.authorizedKeysFile, 'utf8')
                .split('\n')
                .map((l) => l.trim())
                .filter((l) => l && !l.startsWith('#')),
            }
          : {}),
      };
      const res = await api().put<{ hasRootPassword: boolean; authorizedKeys: string[] }>(
        opts.host ? `/api/v1/hosts/${encodeURIComponent(opts.host)}/secrets` : '/api/v1/secrets/site',
        body,
      );
      o.out(
        `root password: ${res.hasRootPassword ? 'set' : 'none (password login disabled)'}; authorized keys: ${res.authorizedKeys.length}`,
      );
    });
  secrets
    .command('show')
    .description('whether a root password is set, and the authorized keys')
    .option('--host <host>')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const res = await api().get<{ hasRootPassword: boolean; authorizedKeys: string[] }>(
        opts.host ? `/api/v1/hosts/${encodeURIComponent(opts.host)}/secrets` : '/api/v1/secrets/site',
      );
      emit(o, opts.json, res, () =>
        [`root password: ${res.hasRootPassword ? 'set' : 'none'}`, ...res.authorizedKeys].join('\n'),
      );
    });
}
