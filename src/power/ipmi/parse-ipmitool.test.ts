import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bmcMessage, classifyIpmitoolError, parsePowerStatus } from './parse-ipmitool.js';

describe('parsePowerStatus', () => {
  const cases: Array<[string, string, string | undefined]> = [
    ['on', 'Chassis Power is on\n', 'on'],
    ['off', 'Chassis Power is off\n', 'off'],
    ['on after -v chatter', 'Discovered IPMB address 0x0\nChassis Power is on\n', 'on'],
    ['unknown word', 'Chassis Power is unknown\n', undefined],
    ['two answers', 'Chassis Power is on\nChassis Power is off\n', undefined],
    ['empty', '', undefined],
    ['trailing text', 'Chassis Power is on, probably\n', undefined],
  ];
  for (const [name, text, want] of cases) it(name, () => assert.equal(parsePowerStatus(text), want));
});

describe('classifyIpmitoolError', () => {
  const cases: Array<[string, string, string]> = [
    [
      'closed port',
      'Get Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\nError: Unable to establish IPMI v2 / RMCP+ session\n',
      'no_answer',
    ],
    ['wrong password', '> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n', 'auth'],
    ['bad cipher', 'Error in open session response message : invalid authentication algorithm\n', 'cipher'],
    ['other', 'Invalid argument: floppyx\n', 'other'],
  ];
  for (const [name, text, want] of cases) it(name, () => assert.equal(classifyIpmitoolError(text), want));
  it('keeps the BMC text and drops -v chatter', () => {
    assert.equal(
      bmcMessage(
        'Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n',
      ),
      'RAKP 2 HMAC is invalid; Error: Unable to establish IPMI v2 / RMCP+ session',
    );
  });
});
