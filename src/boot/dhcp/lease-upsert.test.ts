import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileLeaseUpsert } from './lease-upsert.js';

test('the compiled upsert binds every lease field by name and keeps the bound-state constant', () => {
  const { upsert, dropPrevious, listBound } = compileLeaseUpsert();
  assert.equal((upsert.sql.match(/\?/g) ?? []).length, upsert.params.length);
  assert.deepEqual(
    upsert.params.map((p) => ('key' in p ? p.key : p.value)),
    [
      'ip',
      'mac',
      'subnet',
      'expires_at',
      'hostname',
      'state',
      'mac',
      'subnet',
      'expires_at',
      'hostname',
      'state',
      'mac',
      'now',
    ],
  );
  assert.deepEqual(
    dropPrevious.params.map((p) => ('key' in p ? p.key : { value: p.value })),
    ['ip', 'mac', 'subnet', { value: 'bound' }],
  );
  assert.deepEqual(listBound.params, [{ value: 'bound' }]);
});
