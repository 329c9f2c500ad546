import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BOOT_SESSION_ID_LENGTH, bootSessionId, isBootSessionId } from './boot-session.js';

test('boot session id: the first 12 hex characters of sha256("<host name>:<boot time ISO>")', () => {
  const at = new Date('2026-12-06T04:52:26.209Z');
  const full = createHash('sha256').update('node-07:2026-12-06T04:52:26.209Z').digest('hex');
  assert.equal(bootSessionId('node-07', at), full.slice(0, 12));
  assert.equal(bootSessionId('node-07', at).length, BOOT_SESSION_ID_LENGTH);
  // A fixed vector, so a change of the input form (time format, separator) cannot pass unnoticed.
  assert.equal(bootSessionId('node-07', at), '03e7ec887433');
});

test('boot session id: pure, and differs per host and per boot', () => {
  const at = new Date('2026-12-06T04:52:26.209Z');
  assert.equal(bootSessionId('node-07', at), bootSessionId('node-07', new Date(at.getTime())));
  assert.notEqual(bootSessionId('node-07', at), bootSessionId('node-08', at));
  assert.notEqual(bootSessionId('node-07', at), bootSessionId('node-07', new Date(at.getTime() + 1)));
  // A new MAC's name is its MAC-derived name; any text works as the host name.
  assert.ok(isBootSessionId(bootSessionId('mac-52-54-00-12-34-56', at)));
});

test('isBootSessionId accepts exactly 12 lower-case hex characters', () => {
  assert.ok(isBootSessionId('0123456789ab'));
  for (const bad of ['', '0123456789a', '0123456789abc', '0123456789AB', '0123456789ag', ' 0123456789ab']) {
    assert.equal(isBootSessionId(bad), false, JSON.stringify(bad));
  }
});
