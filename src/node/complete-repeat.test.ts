import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isCompleteRepeat, isInstalledRepeat } from './complete-repeat.js';
import type { NodeTrust } from './sql-node-trust-store.js';

const at = Date.parse('2026-12-07T09:00:00Z');
const completed: NodeTrust = {
  hostId: 'h1',
  credentialHash: 'sha256:cred',
  issuedAt: '2026-12-07T08:30:00.000Z',
  revokedAt: null,
  armed: false,
  armedReason: null,
  lastIp: '10.0.0.5',
  lastSeenAt: '2026-12-07T09:00:00.000Z',
  enrolSecretHash: null,
  enrolUntil: null,
  completedStage: 'install',
  completedCredentialHash: 'sha256:cred',
  completedUntil: '2026-12-07T09:15:00.000Z',
  installedCredentialHash: 'sha256:cred',
  installedUntil: '2026-12-07T09:10:00.000Z',
};

const cases: { name: string; trust: NodeTrust; stage: string; now: number; want: boolean }[] = [
  { name: 'same stage, same credential, in the window', trust: completed, stage: 'install', now: at, want: true },
  {
    name: 'at the end of the window',
    trust: completed,
    stage: 'install',
    now: Date.parse(completed.completedUntil!),
    want: true,
  },
  {
    name: 'after the window',
    trust: completed,
    stage: 'install',
    now: Date.parse(completed.completedUntil!) + 1,
    want: false,
  },
  { name: 'another stage', trust: completed, stage: 'firstboot', now: at, want: false },
  {
    name: 'a credential issued since (a new install or a wipe enrolled)',
    trust: { ...completed, credentialHash: 'sha256:new' },
    stage: 'install',
    now: at,
    want: false,
  },
  {
    name: 'never completed',
    trust: { ...completed, completedStage: null, completedCredentialHash: null, completedUntil: null },
    stage: 'install',
    now: at,
    want: false,
  },
  {
    name: 'credential revoked',
    trust: { ...completed, credentialHash: null },
    stage: 'install',
    now: at,
    want: false,
  },
];

for (const c of cases)
  it(`isCompleteRepeat: ${c.name}`, () => assert.equal(isCompleteRepeat(c.trust, c.stage, c.now), c.want));

const installedCases: { name: string; trust: NodeTrust; now: number; want: boolean }[] = [
  { name: 'same credential, in the window', trust: completed, now: at, want: true },
  { name: 'at the end of the window', trust: completed, now: Date.parse(completed.installedUntil!), want: true },
  { name: 'after the window', trust: completed, now: Date.parse(completed.installedUntil!) + 1, want: false },
  {
    name: 'a credential issued since (the next install enrolled)',
    trust: { ...completed, credentialHash: 'sha256:new' },
    now: at,
    want: false,
  },
  {
    name: 'never reported installed',
    trust: { ...completed, installedCredentialHash: null, installedUntil: null },
    now: at,
    want: false,
  },
  { name: 'credential revoked', trust: { ...completed, credentialHash: null }, now: at, want: false },
];

for (const c of installedCases)
  it(`isInstalledRepeat: ${c.name}`, () => assert.equal(isInstalledRepeat(c.trust, c.now), c.want));
