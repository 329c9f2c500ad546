import type { Command } from '@commander-js/extra-typings';
import { errorCodes, type ErrorCode } from '../../error/codes.js';
import { KilnError } from '../../error/kiln-error.js';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';
import { formatAdmission, pacingBody, pacingOption, staggerHelp, type BatchJson } from './power.js';
import type { BatchDeployItem } from '../../deploy/deploy-service.js';

interface DeployJson {
  host: { name: string; state: string };
  deployment: { id: string; profile: string; files: string[] };
}
interface BatchDeployJson {
  items: BatchDeployItem[];
  admission: BatchJson['admission'];
}
interface DryRunJson {
  dryRun: true;
  profile: string;
  files: Record<string, string>;
  bootSpec: { kernel: string; initrd: string[]; cmdline: string };
  imageSpec?: Record<string, unknown> | null;
}

/** A dry run as text: what the host would boot, the image it would get (image installs), then every install file. */
export function formatDryRun(r: DryRunJson): string {
  const boot = [
    `kernel ${r.bootSpec.kernel}`,
    ...r.bootSpec.initrd.map((i) => `initrd ${i}`),
    `cmdline ${r.bootSpec.cmdline}`,
  ].join('\n');
  return [
    `profile ${r.profile} (dry run: nothing changed)`,
    `--- boot\n${boot}`,
    ...(r.imageSpec ? [`--- image\n${JSON.stringify(r.imageSpec, null, 2)}`] : []),
    ...Object.entries(r.files).map(([name, text]) => `--- ${name}\n${text}`),
  ].join('\n');
}

const enc = encodeURIComponent;
const collect = (v: string, prev: string[] = []) => [...prev, v];

/** `--var key=value` pairs for profile variables (values are strings; the profile's schema types them). */
export function parseVars(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs) return undefined;
  return Object.fromEntries(
    pairs.map((p) => {
      const i = p.indexOf('=');
      if (i < 1) throw new KilnError('validation_failed', `--var must be KEY=VALUE, got "${p}"`);
      return [p.slice(0, i), p.slice(i + 1)];
    }),
  );
}

function hostCommand(program: Command): Command {
  return (
    (program.commands.find((c) => c.name() === 'host') as Command | undefined) ??
    program.command('host').description('manage hosts')
  );
}

/** `kiln host deploy|release|rearm|approve|rollback`. */
export function registerDeployCommands(program: Command, api: () => ApiClient, o: Output): void {
  const host = hostCommand(program);

  host
    .command('deploy')
    .description('install a profile on a host (renders files now, network-boots it)')
    .argument('<host>', 'name or id')
    .option('--profile <profile>', "profile (default: the host's)")
    .option('--var <key=value>', 'profile variable (repeatable)', collect)
    .option('--reuse', 're-install with exactly the files of the last deployment')
    .option('--dry-run', 'render and print what the host would get; change nothing')
    .option('--reason <text>')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const body = {
        profile: opts.profile,
        variables: parseVars(opts.var),
        reuse: opts.reuse,
        dryRun: opts.dryRun,
        reason: opts.reason,
      };
      if (opts.dryRun) {
        const r = await api().post<DryRunJson>(`/api/v1/hosts/${enc(id)}/deploy`, body);
        emit(o, opts.json, r, () => formatDryRun(r));
        return;
      }
      const r = await api().post<DeployJson>(`/api/v1/hosts/${enc(id)}/deploy`, body);
      emit(
        o,
        opts.json,
        r,
        () =>
          `${r.host.name}: ${r.host.state} with ${r.deployment.profile} (deployment ${r.deployment.id}; files ${r.deployment.files.join(', ') || 'none'})`,
      );
    });

  host
    .command('deploy-batch')
    .description(
      "install a profile on many hosts: each host's files now, then their network boots paced by the data plane's headroom (or a fixed stagger)",
    )
    .argument('<hosts...>', 'names or ids')
    .option('--profile <profile>', "profile (default: each host's own)")
    .option('--var <key=value>', 'profile variable (repeatable)', collect)
    .option('--reuse', 're-install each host with exactly the files of its last deployment')
    .addOption(pacingOption('boot'))
    .option('--stagger <duration>', staggerHelp('boots'))
    .option('--max-parallel <n>', 'BMC operations at once', '20')
    .option('--reason <text>')
    .option('--json', 'print JSON')
    .action(async (hosts, opts) => {
      const r = await api().post<BatchDeployJson>('/api/v1/deployments/batch', {
        hosts,
        profile: opts.profile,
        variables: parseVars(opts.var),
        reuse: opts.reuse,
        ...pacingBody(opts),
        reason: opts.reason,
      });
      emit(o, opts.json, r, () =>
        [
          formatTable(
            ['HOST', 'STATE', 'PROFILE', 'BOOT', 'ERROR'],
            r.items.map((i) => [
              i.host,
              i.state ?? null,
              i.deployment?.profile ?? null,
              i.power === 'no-bmc' ? 'no BMC: power it on yourself' : i.power,
              i.error ? `${i.error.message} [${i.error.code}]` : null,
            ]),
          ),
          ...formatAdmission(r.admission),
        ].join('\n'),
      );
      const failed = r.items.filter((i) => !i.ok);
      const first = failed[0];
      if (first) {
        const code = first.error?.code;
        throw new KilnError(
          code !== undefined && code in errorCodes ? (code as ErrorCode) : 'internal',
          `${failed.length} of ${r.items.length} hosts were not deployed and booted (first: ${first.host})`,
        );
      }
    });

  host
    .command('release')
    .description('return a host to ready (after a disk wipe with --wipe)')
    .argument('<host>', 'name or id')
    .option('--wipe', 'boot the wipe image first')
    .option('--reason <text>')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const h = await api().post<{ name: string; state: string }>(`/api/v1/hosts/${enc(id)}/release`, {
        wipe: opts.wipe ?? false,
        reason: opts.reason,
      });
      emit(o, opts.json, h, () => formatTable(['HOST', 'STATE'], [[h.name, h.state]]));
    });

  host
    .command('rearm')
    .description('let the host enrol once more (e.g. after a motherboard swap)')
    .argument('<host>', 'name or id')
    .option('--reason <text>')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const r = await api().post<{ ok: boolean }>(`/api/v1/hosts/${enc(id)}/rearm`, { reason: opts.reason });
      emit(o, opts.json, r, () => `${id}: enrolment re-armed`);
    });

  host
    .command('approve')
    .description(
      "approve the host's pending identity request (a stateless host that booted without its identity partition); compare --code with the node's console",
    )
    .argument('<host>', 'name or id')
    .option('--code <code>', 'the code the node shows (XXXX-XXXX); refused when the pending request has another')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const r = await api().post<{ ok: boolean; code: string; ip: string }>(`/api/v1/hosts/${enc(id)}/approve`, {
        ...(opts.code ? { code: opts.code } : {}),
      });
      emit(o, opts.json, r, () => `${id}: identity request ${r.code} from ${r.ip} approved`);
    });

  host
    .command('rollback')
    .description('layout ab: boot the other root slot (the heartbeat agent switches and reboots at its next heartbeat)')
    .argument('<host>', 'name or id')
    .option('--json', 'print JSON')
    .action(async (id, opts) => {
      const r = await api().post<{ host: string; requestedAt: string }>(`/api/v1/hosts/${enc(id)}/rollback`, {});
      emit(
        o,
        opts.json,
        r,
        () => `${r.host}: rollback requested; its heartbeat agent switches slots at its next heartbeat`,
      );
    });
}
