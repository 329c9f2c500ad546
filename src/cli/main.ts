// The `kiln` command line. Only this file sets the exit code.
import { Command, CommanderError } from '@commander-js/extra-typings';
import { KilnError } from '../error/kiln-error.js';
import { ApiError, createApiClient } from './api-client.js';
import { resolveClientConfig } from './client-config.js';
import { registerDeployCommands } from './commands/deploy.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerControllerCommands } from './commands/controller.js';
import { registerEventCommands } from './commands/events.js';
import { registerHookCommands } from './commands/hook.js';
import { registerHostCommands } from './commands/host.js';
import { registerPowerCommands } from './commands/power.js';
import { registerProfileCommands } from './commands/profile.js';
import { registerImageCommands } from './commands/image.js';
import { registerLeaseCommands } from './commands/lease.js';
import { registerRepoCommands } from './commands/repo.js';
import { registerSshCommands } from './commands/ssh.js';
import { registerServeCommand } from './commands/serve.js';
import { registerTokenCommands } from './commands/token.js';
import { registerUserCommands } from './commands/user.js';
import { exitCodeForError, exitCodes } from './exit-codes.js';
import { processOutput, type Output } from './output.js';

/** Builds the program; `env` and `o` are injected so tests can run commands in process. */
export function buildProgram(
  env: Record<string, string | undefined>,
  o: Output,
  onStarted: (stop: () => Promise<void>, failed?: Promise<KilnError>) => void = () => {},
) {
  const program = new Command()
    .name('kiln')
    .description('Kiln bare-metal provisioning')
    .option('--server <url>', 'controller URL (or KILN_SERVER; default http://127.0.0.1:8080)')
    .option('--token <token>', 'API token (or KILN_TOKEN; default: ./kiln-data/admin-token when readable)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => o.out(s.trimEnd()), writeErr: (s) => o.err(s.trimEnd()) });
  const api = () => createApiClient(resolveClientConfig(program.opts(), env));
  registerServeCommand(program, o, env, onStarted);
  registerHostCommands(program, api, o, env);
  registerEventCommands(program, api, o);
  registerHookCommands(program, api, o);
  registerPowerCommands(program, api, o, env);
  registerDeployCommands(program, api, o);
  registerProfileCommands(program, api, o);
  registerTokenCommands(program, api, o);
  registerImageCommands(program, o, env);
  registerLeaseCommands(program, api, o);
  registerRepoCommands(program, api, o, env);
  registerSshCommands(program, api, o, env);
  registerUserCommands(program, api, o, env);
  registerDoctorCommand(program, api, o);
  registerControllerCommands(program, api, o, env);
  return program;
}

/** Runs the CLI and returns the exit code (0 ok; see exit-codes.ts). */
export async function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
  o: Output = processOutput,
  onStarted?: (stop: () => Promise<void>, failed?: Promise<KilnError>) => void,
): Promise<number> {
  const program = buildProgram(env, o, onStarted);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCodes.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version')
        return exitCodes.ok;
      o.err('see `kiln --help`');
      return exitCodes.usage;
    }
    if (err instanceof ApiError) {
      o.err(`error: ${err.message}${err.code !== 'unreachable' ? ` [${err.code}]` : ''}`);
      for (const i of err.issues) o.err(`  ${i.path}: ${i.message}`);
      return err.code === 'unreachable' || err.code === 'tls_pin_mismatch'
        ? exitCodes.unavailable
        : exitCodeForError(err.code);
    }
    if (err instanceof KilnError) {
      o.err(`error: ${err.message} [${err.code}]`);
      return exitCodeForError(err.code);
    }
    o.err(`error: ${(err as Error).message}`);
    return exitCodes.failed;
  }
}

/** Runs as the `kiln` program (bin/kiln.mjs): sets the exit code, and for `serve` stays up until SIGINT/SIGTERM. */
export async function main(): Promise<void> {
  let stop: (() => Promise<void>) | null = null;
  let failed: Promise<KilnError> | undefined;
  const code = await runCli(process.argv.slice(2), process.env, processOutput, (s, f) => {
    stop = s;
    failed = f;
  });
  if (!stop) {
    process.exitCode = code;
    return;
  }
  // A server that died for good has already stopped the controller: say why in one line and exit non-zero.
  void failed?.then((err) => {
    stop = null;
    processOutput.err(`error: ${err.message} [${err.code}]`);
    process.exit(exitCodeForError(err.code));
  });
  const shutdown = async () => {
    const s = stop;
    stop = null;
    if (s) await s();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}
