// A small boot storm as a test: 200 simulated machines power on at once
// against `kiln serve` in a namespace (test/support/storm-bed.ts), a third
// each BIOS PXE, UEFI PXE and UEFI HTTP boot, and go the real firmware path
// through Kiln's DHCP (relayed, full mode), TFTP and HTTP boot to a discovery
// report (test/support/fleet.ts). No timing is asserted:
// every machine must arrive, each with its own address, host and credential.
// bench/boot-storm.bench.ts runs the same with 1000 machines and the images.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { runFleet } from '../../test/support/fleet.js';
import { STORM_HTTP, startStormBed, type StormBed } from '../../test/support/storm-bed.js';

const skip = canUseNetns() ? false : 'needs root and iproute2 (network namespaces)';
const HOSTS = 200;
const work = mkdtempSync(join(tmpdir(), 'kiln-storm-test-'));
let bed: StormBed | undefined;

after(async () => {
  await bed?.close();
  rmSync(work, { recursive: true, force: true });
});

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${STORM_HTTP}${path}`, {
    headers: { authorization: `Bearer ${bed!.adminToken()}` },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200, `GET ${path}`);
  return path === '/metrics' ? ((await res.text()) as T) : ((await res.json()) as T);
}

test(
  `boot storm: ${HOSTS} BIOS, UEFI PXE and UEFI HTTP machines at once all reach their discovery report, each with its own lease, host and credential`,
  { skip, timeout: 180_000 },
  async () => {
    bed = await startStormBed({ work, nodeImage: false });
    const run = await runFleet({ hosts: HOSTS, images: false, firmware: 'mixed' });
    const failed = run.outcomes.filter((o) => !o.ok);
    assert.deepEqual(
      failed.map((o) => `${o.mac}: ${o.error}`),
      [],
      'every machine booted to its discovery report',
    );

    // Every machine is a host in `ready` (facts received), named after its MAC.
    // The firmware kind is recorded from iPXE's ${platform}: efi for both UEFI paths.
    const hosts = await api<{ items: Array<{ name: string; state: string; firmware: string | null }> }>(
      '/api/v1/hosts?state=ready&limit=1000',
    );
    const byName = new Map(hosts.items.map((h) => [h.name, h]));
    for (const o of run.outcomes) {
      const h = byName.get(`node-${o.mac.replace(/:/g, '')}`);
      assert.ok(h, `${o.mac} is a ready host`);
      assert.equal(h.firmware, o.firmware === 'bios' ? 'bios' : 'uefi', `${o.mac} (${o.firmware}) firmware`);
    }
    assert.deepEqual([...new Set(run.outcomes.map((o) => o.firmware))].sort(), ['bios', 'uefi-http', 'uefi-pxe']);

    // One durable lease per machine, no address given twice.
    const leases = await api<{ items: Array<{ ip: string; mac: string }> }>('/api/v1/leases?subnet=10.91.0.0/16');
    const ours = leases.items.filter((l) => l.mac.startsWith('52:54:01:'));
    assert.equal(ours.length, HOSTS);
    assert.equal(new Set(ours.map((l) => l.ip)).size, HOSTS, 'no address is held by two machines');

    // The data plane's own account: every TFTP transfer (BIOS and UEFI PXE; HTTP boot uses none) completed,
    // no DHCP request failed inside the server.
    const metrics = await api<string>('/metrics');
    const viaTftp = run.outcomes.filter((o) => o.firmware !== 'uefi-http').length;
    assert.equal(Number(/^kiln_tftp_transfers_total\{outcome="complete"\} (\d+)$/m.exec(metrics)?.[1]), viaTftp);
    assert.equal(Number(/^kiln_dhcp_packets_total\{outcome="failed"\} (\d+)$/m.exec(metrics)?.[1]), 0);
    assert.doesNotMatch(bed.log(), /"level":50/, 'no error in the controller log');
    const retried = run.outcomes.filter((o) => o.retries > 0).length;
    process.stderr.write(
      `boot storm: ${HOSTS} machines in ${run.wallSeconds.toFixed(1)} s, ${retried} resent something; simulator lag p99 ${run.lag.p99.toFixed(0)} ms\n`,
    );
  },
);
