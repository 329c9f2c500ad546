import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HealthView } from './api-types.js';
import { doctorBody, healthFragment, unreachableSection } from './health-page.js';

const evil = '<img src=x onerror=alert(1)>';

test('the health fragment shows the heartbeat report and escapes what the node sent', () => {
  const hv: HealthView = {
    hostId: 'h-1',
    hostName: 'node-1',
    status: 'ok',
    intervalSeconds: 60,
    missedIntervals: 3,
    lastSeenAt: '2026-12-06T10:00:00Z',
    lastIp: '10.0.0.5',
    bootedAt: '2026-12-06T09:00:00Z',
    report: {
      bootId: 'b0071d',
      uptimeSeconds: 3 * 3600 + 120,
      kernel: evil,
      load: [0.25, 0.5, 1],
      memory: { totalBytes: 8 * 2 ** 30, availableBytes: 6 * 2 ** 30 },
      disks: [{ mount: '/', sizeBytes: 100, usedBytes: 42 }],
      failedUnits: [`${evil}.service`],
      machineChecks: 0,
      edac: { correctable: 2, uncorrectable: 0 },
      smart: [{ device: 'sda', passed: false, reallocatedSectors: 8 }],
      session: 'abcdef012345',
      agentVersion: 1,
    },
    hardware: { hash: 'sha256:1', auditedAt: '2026-12-06T09:01:00Z' },
  };
  const out = String(healthFragment(hv));
  assert.ok(!out.includes(evil), 'node text is escaped');
  assert.match(out, /data-health="ok"/);
  assert.match(out, /&lt;img src=x onerror=alert\(1\)&gt;\.service/);
  assert.match(out, /6\.0 GiB free of 8\.0 GiB/);
  assert.match(out, /\/ 42 % used/);
  assert.match(out, /3 h 2 min/);
  assert.match(out, /EDAC correctable 2, uncorrectable 0/);
  assert.match(out, /sda FAILED, 8 reallocated/);
  assert.match(String(healthFragment({ ...hv, status: 'never', report: null, lastSeenAt: null })), /no heartbeat yet/);
  assert.match(String(healthFragment(null)), /not available/);
});

test('the unreachable list links each host to its health and escapes its name', () => {
  const out = String(unreachableSection([{ hostName: evil, lastSeenAt: '2026-12-06T10:00:00Z', lastIp: '10.0.0.9' }]));
  assert.ok(!out.includes(evil), 'the name is escaped');
  assert.match(out, /<ul class="events" id="unreachable">/);
  assert.match(out, /href="\/ui\/hosts\/%3Cimg%20src%3Dx%20onerror%3Dalert\(1\)%3E#health"/);
  assert.match(out, /from\s+10\.0\.0\.9/);
  assert.match(String(unreachableSection([])), /None\./);
});

test('the self-check page lists every check with its status, detail and fix, escaped', () => {
  const out = String(
    doctorBody({
      status: 'fail',
      at: '2026-12-06T10:00:00Z',
      checks: [
        { name: 'ipxe-binaries', status: 'fail', detail: 'undionly.kpxe missing', fix: `install ${evil}`, ms: 1 },
        { name: 'clock', status: 'ok', detail: 'sane', ms: 0 },
      ],
    }),
  );
  assert.match(out, /data-doctor="fail"/);
  assert.match(out, /data-check="ipxe-binaries" data-status="fail"/);
  assert.match(out, /data-check="clock" data-status="ok"/);
  assert.ok(!out.includes(evil));
});
