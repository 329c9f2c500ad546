// The API certificate names the host nodes call (the public URL's host), even
// when no local interface lists that address at start (a bridge without
// carrier): the image writer verifies the API by that name or IP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverNames } from './main.js';

test('the public URL host is in the certificate names: an IP as an IP SAN, a name as a DNS SAN', () => {
  assert.ok(serverNames('0.0.0.0:8080', '203.0.113.77').ipAddresses.includes('203.0.113.77'));
  assert.ok(serverNames('0.0.0.0:8080', '[2001:db8::7]').ipAddresses.includes('2001:db8::7'));
  const named = serverNames('0.0.0.0:8080', 'kiln.lab.example');
  assert.ok(named.dnsNames.includes('kiln.lab.example'));
  assert.ok(!named.ipAddresses.includes('kiln.lab.example'));
  assert.ok(!serverNames('0.0.0.0:8080').ipAddresses.includes('203.0.113.77'));
});
