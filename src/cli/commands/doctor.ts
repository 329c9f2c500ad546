import type { Command } from '@commander-js/extra-typings';
import type { ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';

interface ReportJson {
  status: 'ok' | 'warn' | 'fail';
  at: string;
  checks: Array<{ name: string; status: 'ok' | 'warn' | 'fail'; detail: string; fix?: string; ms: number }>;
}

/** Human form of a self-check report: one line per check, its fix indented below when not ok. Pure. */
export function formatDoctorReport(r: ReportJson): string {
  const width = Math.max(...r.checks.map((c) => c.name.length), 4);
  const lines = r.checks.flatMap((c) => [
    `${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`,
    ...(c.status !== 'ok' && c.fix ? [`      ${' '.repeat(width)}  fix: ${c.fix}`] : []),
  ]);
  return lines.join('\n');
}

/** `kiln doctor`: runs the controller's self-check now; exits 1 when a check fails (warnings exit 0). */
export function registerDoctorCommand(program: Command, api: () => ApiClient, o: Output): void {
  program
    .command('doctor')
    .description("run the controller's self-check: each check's status, what it saw and its fix (exit 1 on a failure)")
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const r = await api().get<ReportJson>('/api/v1/health/details');
      emit(o, opts.json, r, () => formatDoctorReport(r));
      const failed = r.checks.filter((c) => c.status === 'fail').map((c) => c.name);
      if (failed.length > 0) throw new Error(`${failed.length} self-check(s) failed: ${failed.join(', ')}`);
    });
}
