import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { RouterAdvertisementConfigSchema, defaultRouterAdvertisementConfig, raInterfaces } from './ra-config.js';

const subnets = [
  { cidr: '10.0.1.0/24', mode: 'full', interface: 'br-boot' },
  { cidr: '10.0.2.0/24', mode: 'proxy', interface: 'eth2' },
  { cidr: '10.0.3.0/24', mode: 'off', interface: 'eth3' },
  { cidr: '10.0.4.0/24', mode: 'reservation', interface: 'br-boot' },
  { cidr: '10.9.0.0/24', mode: 'full' },
];

test('raInterfaces: without a list, every distinct interface of a served subnet, in config order', () => {
  assert.deepEqual(raInterfaces(defaultRouterAdvertisementConfig, subnets), ['br-boot', 'eth2']);
  assert.deepEqual(
    raInterfaces({ enabled: true }, [{ mode: 'full' }]),
    [],
    'single-socket mode names no interface: nothing is guessed',
  );
});

test('raInterfaces: an explicit list wins, and [] turns the derivation off', () => {
  assert.deepEqual(raInterfaces({ enabled: true, interfaces: ['br9'] }, subnets), ['br9']);
  assert.deepEqual(raInterfaces({ enabled: true, interfaces: [] }, subnets), []);
});

test('the schema leaves interfaces absent by default (derive) and keeps an explicit []', () => {
  const absent = Value.Default(RouterAdvertisementConfigSchema, {}) as Record<string, unknown>;
  assert.equal('interfaces' in absent, false);
  const empty = Value.Default(RouterAdvertisementConfigSchema, { interfaces: [] }) as Record<string, unknown>;
  assert.deepEqual(empty['interfaces'], []);
  assert.equal(Value.Check(RouterAdvertisementConfigSchema, { enabled: true, interfaces: ['br0 { x; }'] }), false);
});
