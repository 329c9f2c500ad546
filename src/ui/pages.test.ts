import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventView, HostView, LeaseView } from './api-types.js';
import { hostBody, logFragment, summaryFragment } from './host-page.js';
import { networkBody } from './network-page.js';
import { hostListBody } from './host-list-page.js';

const evil = '<img src=x onerror=alert(1)>';
const host = (name: string, state: HostView['state'], mac: string): HostView => ({
  id: `id-${name}`,
  name,
  state,
  stateReason: null,
  failedStage: null,
  profile: null,
  firmware: null,
  nics: [{ mac, name: null, boot: true }],
  tags: [],
  labels: {},
  facts: { dmi: { product: evil } },
  hardwareHash: null,
  needsAttention: false,
  bmc: null,
  version: 1,
  createdAt: '2026-12-06T00:00:00Z',
  updatedAt: '2026-12-06T00:00:00Z',
});
const viewer = { name: 'v', role: 'viewer' as const, csrf: 'token' };

test('the host page shows a hardware change side by side and escapes facts, diff and log text', () => {
  const change: EventView = {
    seq: 9,
    at: '2026-12-06T00:00:00Z',
    actor: 'node:a',
    kind: 'host.hardware_changed',
    hostId: 'id-a',
    subject: 'a',
    message: `hardware of a changed\nPART ...`,
    reason: null,
    data: { diff: [{ part: 'disk vda', before: '2147483648 bytes', after: evil }] },
  };
  const out = hostBody({
    host: host('a', 'ready', '52:54:00:00:00:01'),
    viewer,
    canAct: false,
    profiles: [],
    power: null,
    hardwareChange: change,
    sessions: [],
    timeline: null,
    logs: [{ id: 1, receivedAt: 't', severity: 3, hostname: null, app: 'kernel', text: evil, sessionId: null }],
    health: null,
    deployment: null,
  }).text;
  assert.doesNotMatch(out, /<img/);
  assert.match(out, /<td class="before">2147483648 bytes<\/td>/);
  assert.match(out, /<td class="after">&lt;img src=x onerror=alert\(1\)&gt;<\/td>/);
  assert.match(out, /&quot;product&quot;: &quot;&lt;img/);
  assert.doesNotMatch(out, /<form method="post"/, 'no action for a role that cannot act');
  assert.match(logFragment([]).text, /No syslog lines/);
  const two = logFragment([
    { id: 1, receivedAt: 't1', severity: 6, hostname: null, app: 'a', text: 'one', sessionId: null },
    { id: 2, receivedAt: 't2', severity: 6, hostname: null, app: 'a', text: 'two', sessionId: null },
  ]).text;
  assert.match(two, /one<\/span>\n<span class="sev-info">t2 a: two<\/span>\n/, 'one log line per line');
});

test('the network view draws each subnet as SVG cells by host state, and lists configured hosts never seen', () => {
  const hosts = [
    host('a', 'ready', '52:54:00:00:00:01'),
    host('b', 'deployed', '52:54:00:00:00:02'),
    host('never', 'new', '52:54:00:00:00:09'),
  ];
  const lease = (ip: string, mac: string, subnet: string): LeaseView => ({
    ip,
    mac,
    subnet,
    hostname: evil,
    state: 'bound',
    expiresAt: '2026-12-07T00:00:00Z',
    active: true,
  });
  const out = networkBody({
    hosts,
    states: ['new', 'ready', 'deployed'],
    truncated: false,
    leases: [
      lease('10.98.0.10', '52:54:00:00:00:01', '10.98.0.0/24'),
      lease('10.98.0.11', '52:54:00:00:00:02', '10.98.0.0/24'),
      lease('10.98.1.10', '52:54:00:00:00:77', '10.98.1.0/24'),
    ],
  }).text;
  assert.equal((out.match(/<svg\s+class="subnet"/g) ?? []).length, 2);
  assert.match(out, /aria-label="10\.98\.0\.0\/24: 2 leased addresses; 1 ready, 1 deployed"/);
  assert.match(out, /class="cell st-ready"/);
  assert.match(out, /class="cell st-unknown"/);
  assert.match(out, /Configured but never seen[\s\S]*href="\/ui\/hosts\/never"/);
  assert.doesNotMatch(out, /<img/);
});

test('the host list keeps its filters in the next-page link and never carries the old cursor into it', () => {
  const out = hostListBody({
    filter: { state: 'ready', tag: 'g"pu', after: 'old' },
    states: ['ready'],
    hosts: [],
    next: 'CURSOR',
  }).text;
  assert.match(out, /href="\/ui\/hosts\?state=ready&amp;tag=g%22pu&amp;after=CURSOR"/);
  assert.match(out, /value="g&quot;pu"/);
  assert.match(out, /<option value="ready"\s+selected>/);
});

test('the summary links the installer status page while the host deploys, and only an http:// URL', () => {
  const d = { viewer, canAct: false, profiles: [], power: null };
  const deploying = host('a', 'deploying', '52:54:00:00:00:01');
  const out = summaryFragment({ ...d, host: deploying, statusUrl: 'http://10.85.0.7:6978/' }).text;
  assert.match(out, /<dt>Installer<\/dt>/);
  assert.match(
    out,
    /<a id="installer-status" href="http:\/\/10\.85\.0\.7:6978\/" rel="noopener noreferrer">status page<\/a>/,
  );
  assert.doesNotMatch(summaryFragment({ ...d, host: deploying, statusUrl: null }).text, /installer-status/);
  assert.doesNotMatch(
    summaryFragment({ ...d, host: deploying, statusUrl: 'javascript:alert(1)' }).text,
    /installer-status/,
    'nothing but an http:// URL is linked',
  );
});
