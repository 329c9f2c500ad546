import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { Argument, Option } from '@commander-js/extra-typings';
import { parseDocument } from 'yaml';
import { KilnError } from '../../error/kiln-error.js';
import { roles } from '../../api/role.js';
import type { ApiClient } from '../api-client.js';
import { resolveClientConfig } from '../client-config.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

interface UserJson {
  id: string;
  name: string;
  role: string;
  createdAt: string;
  createdBy: string;
  disabledAt: string | null;
}

/** Asks for a password without echo; rejects when there is no terminal. */
export type PasswordPrompt = (question: string) => Promise<string>;

/** The CLI's config file: `$XDG_CONFIG_HOME/kiln/config.yaml`, else `~/.config/kiln/config.yaml`. */
export function clientConfigFile(env: Record<string, string | undefined>, home = homedir()): string {
  // Same rule as resolveClientConfig, so `kiln login` writes where the CLI reads.
  return join(env['XDG_CONFIG_HOME'] ?? join(home, '.config'), 'kiln', 'config.yaml');
}

/**
 * Sets `server` and `token` in the config file, keeping its other keys and
 * comments. Written to a temporary file with mode 0600 and renamed, so the
 * token is never readable by others, not even for a moment.
 */
export function writeLoginConfig(file: string, server: string, token: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const doc = parseDocument(existsSync(file) ? readFileSync(file, 'utf8') : '');
  if (doc.errors.length)
    throw new KilnError('config_invalid', `${file}: ${doc.errors[0].message}; fix or remove the file`);
  doc.set('server', server);
  doc.set('token', token);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, String(doc), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** Reads a password from the terminal without echo (raw mode); only on a TTY. */
export const terminalPrompt: PasswordPrompt = (question) =>
  new Promise((resolve, reject) => {
    const { stdin, stderr } = process;
    if (!stdin.isTTY) {
      reject(
        new KilnError(
          'validation_failed',
          'no password given: set KILN_USER_PASSWORD, pass --password-file, or run on a terminal',
        ),
      );
      return;
    }
    stderr.write(question);
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    stdin.resume();
    let buf = '';
    const finish = (err: Error | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(null);
        if (ch === '\u0003' || ch === '\u0004') return finish(new KilnError('validation_failed', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    stdin.on('data', onData);
  });

/**
 * A password from `--password-file` (one trailing newline dropped), else
 * KILN_USER_PASSWORD, else the terminal. Never from a flag: it would show in
 * `ps` and shell history.
 */
async function passwordFrom(
  file: string | undefined,
  env: Record<string, string | undefined>,
  prompt: PasswordPrompt,
  confirm: boolean,
): Promise<string> {
  if (file) return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  const fromEnv = env['KILN_USER_PASSWORD'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const first = await prompt('Password: ');
  if (confirm && (await prompt('Again: ')) !== first)
    throw new KilnError('validation_failed', 'the two passwords differ');
  return first;
}

const path = (name: string) => `/api/v1/users/${encodeURIComponent(name)}`;

/** `kiln user add|list|set-role|disable|enable|delete` (admin) and `kiln login`. */
export function registerUserCommands(
  program: Command,
  api: () => ApiClient,
  o: Output,
  env: Record<string, string | undefined>,
  prompt: PasswordPrompt = terminalPrompt,
): void {
  const user = program.command('user').description('manage API users (admin)');
  user
    .command('add')
    .description('create a user; the password comes from --password-file, KILN_USER_PASSWORD or the terminal')
    .argument('<name>')
    .addOption(new Option('--role <role>', 'role').choices(roles).makeOptionMandatory())
    .option('--password-file <file>', 'file holding the password (or set KILN_USER_PASSWORD)')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const password = await passwordFrom(opts.passwordFile, env, prompt, true);
      const u = await api().post<UserJson>('/api/v1/users', { name, role: opts.role, password });
      emit(o, opts.json, u, () => `created user ${u.name} (${u.role})`);
    });
  user
    .command('list')
    .description('list users')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const res = await api().get<{ items: UserJson[] }>('/api/v1/users');
      emit(o, opts.json, res.items, () =>
        formatTable(
          ['NAME', 'ROLE', 'CREATED', 'CREATED BY', 'DISABLED'],
          res.items.map((u) => [u.name, u.role, u.createdAt, u.createdBy, u.disabledAt]),
        ),
      );
    });
  user
    .command('set-role')
    .description("change a user's role; their sessions get it at once")
    .argument('<name>')
    .addArgument(new Argument('<role>').choices(roles))
    .option('--json', 'print JSON')
    .action(async (name, role, opts) => {
      const u = await api().patch<UserJson>(path(name), { role });
      emit(o, opts.json, u, () => `user ${u.name} now has role ${u.role}`);
    });
  user
    .command('disable')
    .description('disable a user and end their sessions')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const u = await api().patch<UserJson>(path(name), { disabled: true });
      emit(o, opts.json, u, () => `user ${u.name} disabled at ${u.disabledAt}`);
    });
  user
    .command('enable')
    .description('enable a disabled user (they must log in again)')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const u = await api().patch<UserJson>(path(name), { disabled: false });
      emit(o, opts.json, u, () => `user ${u.name} enabled`);
    });
  user
    .command('delete')
    .description('delete a user and revoke their sessions')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const u = await api().del<UserJson>(path(name));
      emit(o, opts.json, u, () => `deleted user ${u.name}`);
    });

  program
    .command('login')
    .description('log in as a user and save the server and session token in the config file (mode 0600)')
    .argument('<name>')
    .option('--password-file <file>', 'file holding the password (or set KILN_USER_PASSWORD)')
    .option('--expires-in-hours <hours>', 'session length (server default 12)')
    .option('--json', 'print JSON (without the token)')
    .action(async (name, opts) => {
      const password = await passwordFrom(opts.passwordFile, env, prompt, false);
      const server = resolveClientConfig(program.opts(), env).server;
      const res = await api().post<{ token: string; expiresAt: string; user: UserJson }>('/api/v1/login', {
        name,
        password,
        ...(opts.expiresInHours ? { expiresInHours: Number(opts.expiresInHours) } : {}),
      });
      const file = clientConfigFile(env);
      writeLoginConfig(file, server, res.token);
      emit(
        o,
        opts.json,
        { server, expiresAt: res.expiresAt, user: res.user, configFile: file },
        () =>
          `logged in to ${server} as ${res.user.name} (${res.user.role}); the session expires at ${res.expiresAt}; saved in ${file}`,
      );
    });
}
