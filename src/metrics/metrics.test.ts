import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestController } from '../../test/support/controller.js';
import { createSqlLeaseStore } from '../boot/dhcp/sql-lease-store.js';
import { createMetrics } from './metrics.js';

const NOW = Date.parse('2026-12-04T12:00:00Z');

test('GET /metrics needs a token and shows hosts by state, active leases and answered HTTP requests', async () => {
  const c = await createTestController({ now: () => new Date(NOW) });
  try {
    await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: { authorization: c.bearer.admin },
      payload: { name: 'n1', nics: [{ mac: '52:54:00:00:00:01' }] },
    });
    await createSqlLeaseStore(c.db).putMany(
      [
        { ip: '10.0.0.100', mac: '52:54:00:00:00:01', subnet: '10.0.0.0/24', expiresAt: NOW + 60_000, state: 'bound' },
        { ip: '10.0.0.101', mac: '52:54:00:00:00:02', subnet: '10.0.0.0/24', expiresAt: NOW - 1, state: 'bound' },
      ],
      0,
    );
    assert.equal((await c.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
    const res = await c.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: c.bearer.viewer } });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const body = res.body;
    assert.match(body, /^kiln_hosts\{state="new"\} 1$/m);
    assert.match(body, /^kiln_hosts\{state="deployed"\} 0$/m, 'every lifecycle state is reported');
    assert.match(
      body,
      /^kiln_dhcp_active_leases\{subnet="10\.0\.0\.0\/24",state="bound"\} 1$/m,
      'the expired lease is not counted',
    );
    assert.match(body, /^kiln_http_requests_total\{method="POST",route="\/api\/v1\/hosts",status="201"\} 1$/m);
    assert.match(body, /^kiln_http_requests_total\{method="GET",route="\/metrics",status="401"\} 1$/m);
    assert.match(body, /^process_resident_memory_bytes \d+/m);
  } finally {
    await c.close();
  }
});

test('DHCP and TFTP figures come from the servers at scrape time', async () => {
  const m = createMetrics({}, { processMetrics: false });
  const stats = { received: 13, replied: 6, ignored: 2, malformed: 1, failed: 1, shed: 3, takenOver: 2, queued: 7 };
  m.watchDhcp(() => stats);
  m.watchTftp(() => 3);
  m.observeTftp('complete', 1000, 0.2);
  m.observeTftp('timeout', 1000, 5);
  let text = await m.registry.metrics();
  assert.match(text, /^kiln_dhcp_packets_total\{outcome="replied"\} 6$/m);
  assert.match(text, /^kiln_dhcp_packets_total\{outcome="malformed"\} 1$/m);
  assert.match(text, /^kiln_dhcp_packets_total\{outcome="shed"\} 3$/m);
  assert.match(text, /^kiln_dhcp_queue_depth 7$/m);
  assert.match(text, /^kiln_dhcp_takeovers_total 2$/m);
  assert.match(text, /^kiln_tftp_active_transfers 3$/m);
  assert.match(text, /^kiln_tftp_transfers_total\{outcome="timeout"\} 1$/m);
  assert.match(text, /^kiln_tftp_sent_bytes_total 1000$/m, 'only completed transfers count their bytes');
  stats.replied = 9;
  text = await m.registry.metrics();
  assert.match(text, /^kiln_dhcp_packets_total\{outcome="replied"\} 9$/m);
});
