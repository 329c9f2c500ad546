import type { Command } from '@commander-js/extra-typings';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';

/** A self-test run as GET /api/v1/hosts/{host}/self-tests answers it. */
export interface SelfTestRunJson {
  id: string;
  tests: string[];
  destructive: boolean;
  requestedBy: string;
  requestedAt: string;
  finishedAt: string | null;
  outcome: string | null;
  results: Array<{ name: string; status: string; output: string; seconds: number }>;
}

/** Human form of runs: a header line per run, then each test's status and its output indented. Pure. */
export function formatSelfTestRuns(runs: readonly SelfTestRunJson[]): string {
  if (runs.length === 0) return 'no self-test runs';
  return runs
    .map((r) => {
      const head = `run ${r.id} ${r.outcome ?? 'pending'}: ${r.tests.join(', ')}${r.destructive ? ' (destructive)' : ''} — asked by ${r.requestedBy} at ${r.requestedAt}${r.finishedAt ? `, reported ${r.finishedAt}` : ''}`;
      const tests = r.results.flatMap((t) => [
        `  ${t.status.toUpperCase().padEnd(7)} ${t.name} (${t.seconds} s)`,
        ...t.output
          .split('\n')
          .filter((l) => l.trim() !== '')
          .slice(-12)
          .map((l) => `      ${l}`),
      ]);
      return [head, ...tests].join('\n');
    })
    .join('\n\n');
}

/** `kiln host test HOST` (ask for a run, optionally wait for it) and `kiln host self-tests HOST` (read runs). */
export function registerHostTestCommands(host: Command, api: () => ApiClient, o: Output): void {
  host
    .command('test')
    .description(
      'run self-tests on a host waiting in the discovery image, powering it on through its BMC when it is off (memory, disk-smart, nic-speed; --destructive adds disk-write, only in ready, with --yes)',
    )
    .argument('<host>', 'host name or id')
    .option('--tests <names>', 'comma-separated subset: memory,disk-smart,nic-speed,disk-write')
    .option('--destructive', 'also write to the disks (host must be ready)')
    .option('--yes', 'confirm a destructive run')
    .option('--memory-mib <n>', "memtester's size in MiB (default 16)")
    .option('--nic-min-mbps <n>', 'least boot-NIC speed that passes')
    .option('--wait <seconds>', 'wait up to this long for the results and exit 1 when a test failed')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
      const run = await api().post<SelfTestRunJson & { poweredOn?: boolean }>(
        `/api/v1/hosts/${encodeURIComponent(name)}/self-tests`,
        {
          ...(opts.tests ? { tests: opts.tests.split(',').map((t) => t.trim()) } : {}),
          ...(opts.destructive ? { destructive: true } : {}),
          ...(opts.yes ? { confirm: true } : {}),
          ...(opts.memoryMib !== undefined ? { memoryMiB: num(opts.memoryMib) } : {}),
          ...(opts.nicMinMbps !== undefined ? { nicMinMbps: num(opts.nicMinMbps) } : {}),
        },
      );
      if (run.poweredOn && !opts.json) o.out(`${name} was off: powered on through its BMC to run the tests`);
      if (opts.wait === undefined) {
        emit(
          o,
          opts.json,
          run,
          () => `run ${run.id} asked: ${run.tests.join(', ')}; see \`kiln host self-tests ${name}\``,
        );
        return;
      }
      const deadline = Date.now() + Number(opts.wait) * 1000;
      for (;;) {
        const { items } = await api().get<{ items: SelfTestRunJson[] }>(
          `/api/v1/hosts/${encodeURIComponent(name)}/self-tests`,
        );
        const done = items.find((r) => r.id === run.id && r.finishedAt !== null);
        if (done) {
          emit(o, opts.json, done, () => formatSelfTestRuns([done]));
          if (done.outcome !== 'pass') throw new Error(`self-tests of ${name} failed`);
          return;
        }
        if (Date.now() > deadline)
          throw new Error(
            `no results from ${name} within ${opts.wait} s (is its agent waiting in the discovery image?)`,
          );
        await new Promise((r) => setTimeout(r, 2000));
      }
    });
  host
    .command('self-tests')
    .description("a host's self-test runs, newest first, with each test's status and the end of its output")
    .argument('<host>', 'host name or id')
    .option('--limit <n>', 'runs to show (1..20)', '5')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const { items } = await api().get<{ items: SelfTestRunJson[] }>(
        `/api/v1/hosts/${encodeURIComponent(name)}/self-tests?limit=${Number(opts.limit)}`,
      );
      emit(o, opts.json, items, () => formatSelfTestRuns(items));
    });
}
