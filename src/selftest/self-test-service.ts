import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { KilnError } from '../error/kiln-error.js';
import type { Host } from '../inventory/host.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import {
  defaultSelfTestOptions,
  destructiveTests,
  outcomeOf,
  planOf,
  readOnlyTests,
  type SelfTestName,
  type SelfTestOptions,
  type SelfTestPlan,
  type SelfTestResult,
  type SelfTestRun,
} from './self-test.js';
import { getPendingRun, getRun, listRuns, putRun } from './sql-self-test-store.js';

/** States in which a host waits in the discovery image, polling for work: only there can tests run. */
const waitingStates = new Set(['new', 'discovering', 'ready', 'failed']);

export interface SelfTestServiceDeps {
  db: Kysely<Database>;
  inventory: Pick<InventoryService, 'getHost' | 'inTransaction' | 'recordEvent'>;
  now?: () => Date;
  newId: () => string;
}

/** The self-test setting of a discovery rule or a profile (discovery-actions.ts); `by` is `rule:NAME` or `profile:NAME`. */
export interface RuleSelfTests {
  by: string;
  tests: readonly SelfTestName[];
  options?: Partial<SelfTestOptions>;
}

/** Self-test runs: started by a rule at discovery or requested by an operator, finished by the agent's report. */
export function createSelfTestService(deps: SelfTestServiceDeps) {
  const { db, inventory } = deps;
  const now = () => (deps.now ?? (() => new Date()))().toISOString();
  const newRun = (
    host: Host,
    tests: readonly SelfTestName[],
    destructive: boolean,
    options: SelfTestOptions,
    by: string,
  ): SelfTestRun => ({
    id: deps.newId(),
    hostId: host.id,
    tests: [...tests],
    destructive,
    options,
    requestedBy: by,
    requestedAt: now(),
    finishedAt: null,
    outcome: null,
    results: [],
  });

  return {
    /** Starts the rule's (or profile's) run for a host being discovered, in the caller's transaction; the plan goes in the discover answer. */
    async startDiscoveryRun(trx: Kysely<Database>, host: Host, r: RuleSelfTests): Promise<SelfTestPlan> {
      // A node that rebooted during its tests reports again: it gets the run it never finished, not a second one.
      const pending = await getPendingRun(trx, host.id);
      if (pending) return planOf(pending);
      const run = newRun(host, r.tests, false, { ...defaultSelfTestOptions, ...r.options }, r.by);
      await putRun(trx, run);
      return planOf(run);
    },

    /** The host's oldest run not yet reported (an operator's request), as the agent's plan; null when none. */
    async pendingPlan(hostId: string, tx?: Kysely<Database>): Promise<SelfTestPlan | null> {
      const run = await getPendingRun(tx ?? db, hostId);
      return run ? planOf(run) : null;
    },

    /**
     * An operator asks for tests (default: every read-only test; `destructive`
     * adds disk-write). Destructive tests need the host in `ready` and
     * `confirm`. The agent of a host waiting in the discovery image picks the
     * run up on its next poll; a host that is off runs it on its next discovery boot.
     */
    async request(
      idOrName: string,
      o: { tests?: SelfTestName[]; destructive?: boolean; confirm?: boolean; options?: Partial<SelfTestOptions> },
      actor: string,
    ): Promise<SelfTestRun> {
      const host = await inventory.getHost(idOrName);
      const destructive = o.destructive ?? false;
      const tests = o.tests ?? [...readOnlyTests, ...(destructive ? destructiveTests : [])];
      const wantsWrite = tests.some((t) => (destructiveTests as readonly string[]).includes(t));
      if (wantsWrite && !destructive)
        throw new KilnError(
          'precondition_failed',
          `${tests.join(', ')} includes a destructive test: ask with --destructive`,
        );
      if (destructive && host.state !== 'ready')
        throw new KilnError(
          'precondition_failed',
          `destructive tests write to ${host.name}'s disks: only on a host in ready, and ${host.name} is ${host.state}`,
        );
      if (destructive && !o.confirm)
        throw new KilnError(
          'precondition_failed',
          `destructive tests erase data on ${host.name}'s disks: confirm with --yes`,
        );
      if (!waitingStates.has(host.state))
        throw new KilnError(
          'precondition_failed',
          `${host.name} is ${host.state}: self-tests run in the discovery image (new, discovering, ready or failed)`,
        );
      const run = newRun(host, tests, destructive, { ...defaultSelfTestOptions, ...o.options }, actor);
      await inventory.inTransaction(async (inv, trx) => {
        await putRun(trx, run);
        await inv.recordEvent({
          actor,
          kind: 'host.self_test_requested',
          hostId: host.id,
          subject: host.name,
          message: `self-tests requested for ${host.name}: ${tests.join(', ')}${destructive ? ' (destructive)' : ''}`,
          data: { run: run.id, tests, destructive },
        });
      });
      return run;
    },

    /**
     * The agent's results for run `runId`: stored with the outcome and an
     * event. A host being discovered goes to ready when nothing failed, else
     * to failed (stage `self-test`); a ready host whose tests fail goes to failed.
     */
    async report(
      hostId: string,
      runId: string,
      results: SelfTestResult[],
      actor: string,
    ): Promise<{ outcome: 'pass' | 'fail'; host: Host }> {
      return inventory.inTransaction(async (inv, trx) => {
        const run = await getRun(trx, runId);
        if (!run || run.hostId !== hostId) throw new KilnError('not_found', `no self-test run ${runId} for this host`);
        if (run.finishedAt !== null) throw new KilnError('conflict', `self-test run ${runId} was already reported`);
        const outcome = outcomeOf(run.tests, results);
        await putRun(trx, { ...run, results, outcome, finishedAt: now() });
        let host = await inv.getHost(hostId);
        const summary = results.map((r) => `${r.name} ${r.status}`).join(', ');
        await inv.recordEvent({
          actor,
          kind: `host.self_test_${outcome === 'pass' ? 'passed' : 'failed'}`,
          hostId,
          subject: host.name,
          message: `self-tests of ${host.name} ${outcome === 'pass' ? 'passed' : 'failed'}: ${summary}`,
          data: { run: run.id, results: results.map((r) => ({ name: r.name, status: r.status })) },
        });
        const reason = `self-tests ${outcome === 'pass' ? 'passed' : 'failed'} (${summary})`;
        if (host.state === 'discovering')
          host = await inv.transition(hostId, outcome === 'pass' ? 'ready' : 'failed', {
            actor,
            reason,
            failedStage: 'self-test',
          });
        else if (host.state === 'ready' && outcome === 'fail')
          host = await inv.transition(hostId, 'failed', { actor, reason, failedStage: 'self-test' });
        return { outcome, host };
      });
    },

    /** A host's runs, newest first. */
    async list(idOrName: string, limit = 20): Promise<{ host: Host; runs: SelfTestRun[] }> {
      const host = await inventory.getHost(idOrName);
      return { host, runs: await listRuns(db, host.id, limit) };
    },
  };
}

/** The self-test service's type. */
export type SelfTestService = ReturnType<typeof createSelfTestService>;
