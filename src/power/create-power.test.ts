import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { silentLogger } from '../log/logger.js';
import { createPowerService } from './create-power.js';

describe('createPowerService', () => {
  it('registers every real driver and the fake only when allowed', () => {
    const real = createPowerService(
      { maxConcurrent: 4, timeoutMs: 1000 },
      { logger: silentLogger, onReport: () => {} },
    );
    assert.deepEqual(real.registry.names(), ['ipmi', 'libvirt', 'redfish', 'webhook', 'wol']);
    const dev = createPowerService(
      { maxConcurrent: 4, timeoutMs: 1000, allowFake: true },
      { logger: silentLogger, onReport: () => {} },
    );
    assert.ok(dev.registry.names().includes('fake'));
  });
  it('rejects an unknown driver and a bad option with validation_failed', () => {
    const { registry } = createPowerService(
      { maxConcurrent: 1, timeoutMs: 1000 },
      { logger: silentLogger, onReport: () => {} },
    );
    assert.throws(
      () => registry.create({ driver: 'smoke-signals', address: 'x' }),
      (e) => hasCode(e, 'validation_failed'),
    );
    assert.throws(
      () => registry.create({ driver: 'ipmi', address: '10.0.0.9', options: { cipherSuite: 'three' } }),
      (e) => hasCode(e, 'validation_failed'),
    );
  });
  it('runs a fake power-on through the queue and reports it', async () => {
    const reports: string[] = [];
    const { registry, queue } = createPowerService(
      { maxConcurrent: 1, timeoutMs: 1000, allowFake: true },
      { logger: silentLogger, onReport: (r) => reports.push(r.phase) },
    );
    const d = registry.create({ driver: 'fake', address: 'x' });
    await queue.submit('h', d, { kind: 'power', action: 'on' });
    assert.equal(await queue.submit('h', d, { kind: 'status' }), 'on');
    assert.deepEqual(reports, ['started', 'succeeded', 'started', 'succeeded']);
  });
});
