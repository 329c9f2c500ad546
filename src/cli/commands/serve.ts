import type { Command } from '@commander-js/extra-typings';
import { settings } from '../../config/settings.js';
import { readConfig } from '../../config/parse-config.js';
import { redactCredentials } from '../../config/redact.js';
import { startUpFailure } from '../../startup/start-up-failure.js';
import type { KilnError } from '../../error/kiln-error.js';
import type { Output } from '../output.js';

/** `kiln serve`: one flag per non-secret setting (see the configuration reference in README.md). */
export function registerServeCommand(
  program: Command,
  o: Output,
  env: Record<string, string | undefined>,
  onStarted: (stop: () => Promise<void>, failed?: Promise<KilnError>) => void,
): void {
  const serve = program
    .command('serve')
    .description('run the controller (API, DHCP, TFTP, HTTP boot)')
    .option('--config <file>', 'YAML config file (or KILN_CONFIG)')
    .option('--print-config', 'print the effective configuration and exit');
  for (const s of settings) {
    if (s.secret) continue;
    const flag = s.type === 'boolean' ? `--${s.name}` : `--${s.name} <value>`;
    serve.option(flag, `${s.help}${s.default !== undefined ? ` (default: ${s.default})` : ''}`);
  }
  serve.action(async (opts: Record<string, unknown>) => {
    const flags = Object.fromEntries(
      settings.map((s) => [s.name, opts[s.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())]]),
    );
    try {
      // Everything (flags, environment, file, every section) is validated here, before anything is opened.
      const { raw, config } = readConfig({
        flags,
        env,
        file: (opts['config'] as string | undefined) ?? env['KILN_CONFIG'],
      });
      if (opts['printConfig']) {
        o.out(
          JSON.stringify(
            redactCredentials({ values: raw.values, sources: raw.sources, sections: raw.sections }),
            null,
            2,
          ),
        );
        return;
      }
      const { runServe } = await import('../../main.js');
      const running = await runServe(config, { print: (line) => o.out(line) });
      onStarted(running.stop, running.failed);
    } catch (err) {
      // One line naming the setting and the fix; the CLI exits 6 (config_invalid, store_unavailable).
      throw startUpFailure(err);
    }
  });
}
