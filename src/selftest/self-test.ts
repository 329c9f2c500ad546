/**
 * Node self-tests: named hardware checks the discovery agent runs
 * (node/agent/selftest.sh) before a host is reported ready, or on demand
 * (`kiln host test`). Each ends pass, fail or skipped (the hardware or the
 * image cannot run it: a virtual disk without SMART, a NIC that reports no
 * speed), with its output kept on the host's run.
 */

/** Tests that only read: allowed from a rule and on any waiting host. */
export const readOnlyTests = ['memory', 'disk-smart', 'nic-speed'] as const;
/** Tests that write to the disks: only on request, on a host in `ready`, with confirmation. */
export const destructiveTests = ['disk-write'] as const;
export const selfTestNames = [...readOnlyTests, ...destructiveTests] as const;
export type SelfTestName = (typeof selfTestNames)[number];

/** Limits of the tests: memtester's size (MiB) and the least NIC speed that passes (Mbit/s; 0: any known speed). */
export interface SelfTestOptions {
  memoryMiB: number;
  nicMinMbps: number;
}

export const defaultSelfTestOptions: SelfTestOptions = { memoryMiB: 16, nicMinMbps: 0 };

/** One test's result as the agent reports it; `output` is the tool's output, cut to its last 16 KiB. */
export interface SelfTestResult {
  name: SelfTestName;
  status: 'pass' | 'fail' | 'skipped';
  output: string;
  seconds: number;
}

/** One run of tests on one host: requested (by a rule at discovery, or an operator), then finished with results. */
export interface SelfTestRun {
  id: string;
  hostId: string;
  tests: SelfTestName[];
  destructive: boolean;
  options: SelfTestOptions;
  requestedBy: string;
  requestedAt: string;
  finishedAt: string | null;
  /** pass when no test failed (skipped ones do not fail a run); null while running. */
  outcome: 'pass' | 'fail' | null;
  results: SelfTestResult[];
}

/** What the agent is told to run (the discover answer's `selfTests`, or `next`'s). */
export interface SelfTestPlan {
  run: string;
  /** Comma-separated, for the shell. */
  tests: string;
  destructive: boolean;
  memoryMiB: number;
  nicMinMbps: number;
}

/** The plan a run hands the agent. Pure. */
export function planOf(run: SelfTestRun): SelfTestPlan {
  return { run: run.id, tests: run.tests.join(','), destructive: run.destructive, ...run.options };
}

/** A run's outcome from its results: fail when any test failed or a requested test has no result. Pure. */
export function outcomeOf(tests: readonly SelfTestName[], results: readonly SelfTestResult[]): 'pass' | 'fail' {
  if (results.some((r) => r.status === 'fail')) return 'fail';
  return tests.every((t) => results.some((r) => r.name === t)) ? 'pass' : 'fail';
}
