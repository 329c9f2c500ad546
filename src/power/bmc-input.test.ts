// Operator input at the BMC drivers' edges, generated per class: ipmitool
// argument injection (address, user, options), Redfish address schemes and
// credentials in URLs. Every refusal happens when the driver is built, before
// any tool runs or any request is sent.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hasCode } from '../error/kiln-error.js';
import { createIpmiDriver, parseIpmiAddress } from './ipmi/ipmi-driver.js';
import { createRedfishDriver, redfishBaseUrl } from './redfish/redfish-driver.js';
import { createWolDriver } from './wol/wol-driver.js';

const refused = (f: () => unknown, path: string) =>
  assert.throws(f, (e) => hasCode(e, 'validation_failed') && e.issues[0].path === path);

describe('ipmitool input', () => {
  it('reads host, host:port, [IPv6] and [IPv6]:port', () => {
    assert.deepEqual(parseIpmiAddress('bmc1.lab', 623), { host: 'bmc1.lab', port: 623 });
    assert.deepEqual(parseIpmiAddress('10.0.0.5:6230', 623), { host: '10.0.0.5', port: 6230 });
    assert.deepEqual(parseIpmiAddress('[fd00::5]', 623), { host: 'fd00::5', port: 623 });
    assert.deepEqual(parseIpmiAddress('[fd00::5]:1623', 623), { host: 'fd00::5', port: 1623 });
  });

  it('refuses every address, user and option that ipmitool could read as an option or another value', () => {
    const options = ['-o', '--', '-f/etc/shadow', '-E', '-k', '-y00', '-I open', '-H', '-'];
    for (const o of options) {
      refused(() => createIpmiDriver({ driver: 'ipmi', address: o }), '/bmc/address');
      refused(() => createIpmiDriver({ driver: 'ipmi', address: `${o}:623` }), '/bmc/address');
      refused(() => createIpmiDriver({ driver: 'ipmi', address: '10.0.0.5', username: o }), '/bmc/username');
    }
    for (const a of ['fd00::5', 'h:1:2', 'h:0', 'h:65536', 'h:', 'a b', 'h\n-E', '[::1', '[-x]', 'h;id', 'h$(id)', ''])
      refused(() => createIpmiDriver({ driver: 'ipmi', address: a }), '/bmc/address');
    for (const u of ['12345678901234567', 'a\nb', ' root', 'r\u0000t'])
      refused(() => createIpmiDriver({ driver: 'ipmi', address: 'h', username: u }), '/bmc/username');
    refused(() => createIpmiDriver({ driver: 'ipmi', address: 'h', password: 'a\u0000b' }), '/bmc/password');
    for (const [k, v] of [
      ['cipherSuite', 1.5],
      ['cipherSuite', 18],
      ['retries', 1e9],
      ['retryTimeoutSec', 0],
      ['port', 70000],
    ] as const) {
      refused(() => createIpmiDriver({ driver: 'ipmi', address: 'h', options: { [k]: v } }), `/bmc/options/${k}`);
    }
  });

  it('whatever address and user pass, no argv word that ipmitool gets from them starts with "-" (property)', () => {
    const word = fc.stringMatching(/^[-a-z0-9.:[\]\s;$]{0,12}$/);
    fc.assert(
      fc.property(word, word, (address, user) => {
        try {
          createIpmiDriver({ driver: 'ipmi', address, username: user });
        } catch (e) {
          assert.ok(hasCode(e, 'validation_failed'));
          return;
        }
        const { host } = parseIpmiAddress(address, 623);
        assert.ok(!host.startsWith('-') && !user.startsWith('-') && !/\s/.test(host), `${address} / ${user}`);
      }),
      { numRuns: 1000, seed: 11 },
    );
  });
});

describe('Redfish address', () => {
  it('is the BMC origin only: https (or http), no credentials, path, query or fragment', () => {
    assert.equal(redfishBaseUrl('10.0.0.5'), 'https://10.0.0.5');
    assert.equal(redfishBaseUrl('bmc1.lab:8443'), 'https://bmc1.lab:8443');
    assert.equal(redfishBaseUrl('https://[fd00::5]:8443/'), 'https://[fd00::5]:8443');
    assert.equal(redfishBaseUrl('http://127.0.0.1:8000'), 'http://127.0.0.1:8000');
    for (const a of [
      'file:///etc/passwd',
      'ftp://bmc1/',
      'gopher://bmc1/',
      'ws://bmc1',
      'data:,x',
      'https://admin:pw@bmc1',
      'https://admin@bmc1',
      'https://bmc1/redfish/v1',
      'https://bmc1/?x=1',
      'https://bmc1/#x',
      'admin:pw@bmc1',
      'bmc1 /x',
      'https://',
      '',
    ]) {
      refused(() => createRedfishDriver({ driver: 'redfish', address: a }), '/bmc/address');
    }
  });
});

describe('Wake-on-LAN options', () => {
  it('bounds the packet count and the port', () => {
    for (const [k, v] of [
      ['repeat', 1e9],
      ['repeat', 2.5],
      ['port', 0],
      ['port', 70000],
    ] as const) {
      refused(
        () => createWolDriver({ driver: 'wol', address: '52:54:00:00:00:01', options: { [k]: v } }),
        `/bmc/options/${k}`,
      );
    }
  });
});
