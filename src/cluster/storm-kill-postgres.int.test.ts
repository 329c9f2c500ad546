// A boot storm against several `kiln serve` on one PostgreSQL
// (test/support/cluster-storm-bed.ts: each member in its own namespace, the
// simulated fleet's relay forwarding every DHCP message to each member, HTTP
// boot from each), the machines running the scripts Kiln serves
// (test/support/fleet.ts, fleet-ipxe.ts), so they fail over between members
// where the scripts say. Two members with `kill -9` of one in the middle of
// the storm; three members for the lease table under a storm against all
// three at once. No timing is asserted: every machine must reach its
// discovery report, and the shared database must hold what the machines were
// told (test/support/cluster-storm-check.ts). The pause the machines saw is
// printed. bench/boot-storm.bench.ts --controllers=2|3 --kill-at=N runs the
// same with 1000 machines and the kernel and initrd.
// Addresses: 10.112.0.0/16 and 10.113.0.0/16, on the test's own namespaces and veths only.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { runFleet } from '../../test/support/fleet.js';
import { clusterRelay, startClusterStormBed, type ClusterStormBed } from '../../test/support/cluster-storm-bed.js';
import { checkClusterStore, pauseAfterKill } from '../../test/support/cluster-storm-check.js';

const skip = canUseNetns() ? false : 'needs root and iproute2 (network namespaces)';
const work = mkdtempSync(join(tmpdir(), 'kiln-storm-kill-'));
let bed: ClusterStormBed | undefined;

after(async () => {
  await bed?.close();
  rmSync(work, { recursive: true, force: true });
});

/** Starts `members` controllers (the previous test's are stopped first: both tests use the same addresses). */
async function freshBed(members: number): Promise<ClusterStormBed> {
  await bed?.close();
  bed = await startClusterStormBed({ work: mkdtempSync(join(work, `m${members}-`)), members, nodeImage: false });
  return bed;
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? 0;

test(
  'kill -9 of one of two controllers in the middle of a boot storm: every machine reaches discovery through the other; leases, hosts and events hold in the shared store',
  { skip, timeout: 240_000 },
  async (t) => {
    const cluster = await freshBed(2);
    const HOSTS = 80;
    const KILL_AT = 30;
    let scripts = 0;
    const kill: { at?: number } = {};
    // 20 at a time, so the storm is still arriving when member 0 dies.
    const run = await runFleet({
      hosts: HOSTS,
      parallel: 20,
      images: false,
      firmware: 'mixed',
      relay: clusterRelay(0),
      target: cluster.target,
      maxBoots: 2,
      onStage: (_i, stage) => {
        if (stage === 'scripts' && ++scripts === KILL_AT) kill.at = cluster.kill(0);
      },
    });
    const killAt = kill.at;
    assert.ok(killAt !== undefined, `member 0 was killed after ${KILL_AT} per-host scripts`);
    const failed = run.outcomes.filter((o) => !o.ok).map((o) => `${o.mac}: ${o.error}`);
    assert.deepEqual(failed, [], 'every machine reached its discovery report');

    const pause = pauseAfterKill(run.outcomes, cluster.members[0]!.address, killAt);
    const rebooted = run.outcomes.filter((o) => o.boots > 1).length;
    t.diagnostic(
      `${HOSTS} machines in ${run.wallSeconds.toFixed(1)} s, ${rebooted} started a second boot; ${pause.affected} had an exchange with the killed member fail, ${pause.resumed} progressed again; pause after the kill p50 ${pct(pause.pausesMs, 0.5).toFixed(0)} ms, max ${Math.max(0, ...pause.pausesMs).toFixed(0)} ms`,
    );
    assert.equal(pause.resumed, pause.affected, 'every machine the kill interrupted progressed again');

    const checks = await checkClusterStore(cluster.databaseUrl, run.outcomes, cluster.members[0]!.url);
    for (const c of checks) t.diagnostic(`${c.ok ? 'ok' : 'FAIL'} ${c.check}: ${c.found}`);
    assert.deepEqual(
      checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.found}`),
      [],
      'every invariant over the shared store holds',
    );
  },
);

test(
  'three controllers on one PostgreSQL answering one storm at once: no address leased to two machines, no MAC in two hosts, every ACK a bound lease',
  { skip, timeout: 240_000 },
  async (t) => {
    const cluster = await freshBed(3);
    const HOSTS = 120;
    const run = await runFleet({
      hosts: HOSTS,
      images: false,
      firmware: 'mixed',
      relay: clusterRelay(0),
      target: cluster.target,
      maxBoots: 2,
    });
    const failed = run.outcomes.filter((o) => !o.ok).map((o) => `${o.mac}: ${o.error}`);
    assert.deepEqual(failed, [], 'every machine reached its discovery report');
    const ackedBy = new Map<string, number>();
    for (const o of run.outcomes) for (const a of o.acks) ackedBy.set(a.server, (ackedBy.get(a.server) ?? 0) + 1);
    t.diagnostic(
      `${HOSTS} machines in ${run.wallSeconds.toFixed(1)} s; ACKs by member: ${[...ackedBy].map(([s, n]) => `${s} ${n}`).join(', ')}; ${run.outcomes.filter((o) => o.boots > 1).length} started a second boot`,
    );
    const checks = await checkClusterStore(cluster.databaseUrl, run.outcomes);
    for (const c of checks) t.diagnostic(`${c.ok ? 'ok' : 'FAIL'} ${c.check}: ${c.found}`);
    assert.deepEqual(
      checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.found}`),
      [],
      'every invariant over the shared store holds',
    );
  },
);
