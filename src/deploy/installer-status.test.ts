// The installer status page's URL (installer-status.ts): only while deploying,
// only for an address, IPv4-mapped and IPv6 forms written as a browser needs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { installerStatusUrl } from './installer-status.js';

test('installerStatusUrl: the node address on port 6978, only while deploying', () => {
  assert.equal(installerStatusUrl('deploying', '10.85.0.7'), 'http://10.85.0.7:6978/');
  assert.equal(installerStatusUrl('deploying', '::ffff:10.85.0.7'), 'http://10.85.0.7:6978/');
  assert.equal(installerStatusUrl('deploying', 'fd00::7'), 'http://[fd00::7]:6978/');
  assert.equal(installerStatusUrl('deployed', '10.85.0.7'), null, 'the writer is gone once deployed');
  assert.equal(installerStatusUrl('failed', '10.85.0.7'), null);
  assert.equal(installerStatusUrl('deploying', null), null, 'no address known yet');
  assert.equal(installerStatusUrl('deploying', 'node.example"><script>'), null, 'anything but an address is dropped');
});
