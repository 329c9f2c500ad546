import type { Command } from '@commander-js/extra-typings';
import { readFileSync } from 'node:fs';
import { runTool } from '../../process/run-tool.js';
import { packagePath } from '../../runtime/package-path.js';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';

interface VerifyJson {
  host: string;
  image: string;
  checked: number;
  added: number;
  changed: number;
  missing: number;
  unparsed: number;
  samples: { added: string[]; changed: { path: string; what: string[] }[]; missing: string[] };
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** The text `kiln host verify` prints. */
export function formatVerify(r: VerifyJson): string {
  const lines = [
    `${r.host}: image ${r.image}, ${r.checked} paths checked: ${r.added} added, ${r.changed} changed, ${r.missing} missing${r.unparsed ? `, ${r.unparsed} lines unreadable` : ''}`,
    ...r.samples.added.map((p) => `  added    ${p}`),
    ...r.samples.changed.map((c) => `  changed  ${c.path} (${c.what.join(', ')})`),
    ...r.samples.missing.map((p) => `  missing  ${p}`),
  ];
  const shown = r.samples.added.length + r.samples.changed.length + r.samples.missing.length;
  if (shown < r.added + r.changed + r.missing) lines.push(`  … (${r.added + r.changed + r.missing - shown} more)`);
  return lines.join('\n');
}

/**
 * `kiln host verify HOST`: lists the host's root over SSH (as root, with the
 * operator's own key and known_hosts: Kiln's @cert-authority line), sends the
 * listing to the controller, which compares it with the image manifest and
 * records a host.verified event. The heartbeat agent will run the same
 * listing on a schedule with its node credential (not yet).
 */
export function registerHostVerify(host: Command, api: () => ApiClient, o: Output): void {
  host
    .command('verify')
    .description("check a host's installed root against its image manifest (added, changed, missing files)")
    .argument('<host>', 'host name or id')
    .option('--ssh <destination>', 'where ssh logs in (default root@<host name>)')
    .option('--ssh-option <option>', 'an ssh -o option, e.g. IdentityFile=~/.ssh/kiln (repeatable)', collect)
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const dest = opts.ssh ?? `root@${name}`;
      if (dest.startsWith('-')) throw new Error(`--ssh ${dest}: a destination, not an option`);
      const sshOpts = (opts.sshOption ?? []).flatMap((x) => ['-o', x]);
      const listing = await runTool('ssh', ['-o', 'BatchMode=yes', ...sshOpts, '--', dest, 'sh', '-s'], {
        input: readFileSync(packagePath('node/verify/kiln-verify-list.sh'), 'utf8'),
        timeoutMs: 600_000,
      });
      const r = await api().post<VerifyJson>(`/api/v1/hosts/${encodeURIComponent(name)}/verify`, { listing });
      emit(o, opts.json, r, () => formatVerify(r));
    });
}
