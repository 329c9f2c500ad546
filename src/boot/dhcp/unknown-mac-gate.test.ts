import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMac, type Mac } from '../../net/mac.js';
import { createUnknownMacGate } from './unknown-mac-gate.js';

const mac = parseMac('52:54:00:00:00:01')!;
const other = parseMac('52:54:00:00:00:02')!;

function gate(admits: (m: Mac) => boolean = () => true) {
  const asked: string[] = [];
  let t = 0;
  const g = createUnknownMacGate({ admits: (m) => admits(m), ask: (m, s) => asked.push(`${m} ${s}`), now: () => t });
  return { g, asked, tick: (ms: number) => (t += ms) };
}

test('unknown-mac gate: a new MAC is answered at once and reported to the main thread once a second', () => {
  const { g, asked, tick } = gate();
  assert.equal(g.check(mac, '10.117.0.0/16'), true);
  assert.equal(g.check(mac, '10.117.0.0/16'), true, 'the REQUEST after the DISCOVER: answered, not reported again');
  assert.deepEqual(asked, [`${mac} 10.117.0.0/16`]);
  tick(1000);
  g.check(mac, '10.117.0.0/16');
  assert.equal(asked.length, 2, 'reported again after a second');
});

test('unknown-mac gate: a MAC the settings refuse is never answered, and still reported (the policy records the refusal)', () => {
  const { g, asked } = gate((m) => m !== mac);
  assert.equal(g.check(mac, '10.117.0.0/16'), false);
  g.verdict(mac, true); // the settings win whatever the main thread says
  assert.equal(g.check(mac, '10.117.0.0/16'), false);
  assert.equal(g.check(other, '10.117.0.0/16'), true);
  assert.equal(asked.length, 2);
});

test('unknown-mac gate: refused by the main thread (rate bound), a MAC is not answered until a later report is admitted', () => {
  const { g, asked, tick } = gate();
  assert.equal(g.check(mac, '10.117.0.0/16'), true, 'the first request is answered before any verdict');
  g.verdict(mac, false);
  assert.equal(g.check(mac, '10.117.0.0/16'), false);
  tick(1000);
  assert.equal(g.check(mac, '10.117.0.0/16'), false, 'still refused while the new report is pending');
  assert.equal(asked.length, 2);
  g.verdict(mac, true);
  assert.equal(g.check(mac, '10.117.0.0/16'), true);
});
