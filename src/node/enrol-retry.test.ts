import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decideEnrolRetry } from './enrol-retry.js';
import type { NodeTrust } from './sql-node-trust-store.js';

const at = Date.parse('2026-12-07T08:00:00Z');
const enrolled: NodeTrust = {
  hostId: 'h1',
  credentialHash: 'sha256:cred',
  issuedAt: '2026-12-07T08:00:00.000Z',
  revokedAt: null,
  armed: false,
  armedReason: null,
  lastIp: '10.0.0.5',
  lastSeenAt: '2026-12-07T08:00:00.000Z',
  enrolSecretHash: 'sha256:secret',
  enrolUntil: '2026-12-07T08:15:00.000Z',
  completedStage: null,
  completedCredentialHash: null,
  completedUntil: null,
  installedCredentialHash: null,
  installedUntil: null,
};

const cases: { name: string; trust: NodeTrust; secret: string | null; now: number; want: string }[] = [
  { name: 'same secret, unused, in the window', trust: enrolled, secret: 'sha256:secret', now: at, want: 'retry' },
  {
    name: 'at the end of the window',
    trust: enrolled,
    secret: 'sha256:secret',
    now: Date.parse(enrolled.enrolUntil!),
    want: 'retry',
  },
  {
    name: 'after the window',
    trust: enrolled,
    secret: 'sha256:secret',
    now: Date.parse(enrolled.enrolUntil!) + 1,
    want: 'window passed',
  },
  { name: 'no secret', trust: enrolled, secret: null, now: at, want: 'no secret' },
  { name: 'another secret', trust: enrolled, secret: 'sha256:other', now: at, want: 'other secret' },
  {
    name: 'credential used (secret forgotten)',
    trust: { ...enrolled, enrolSecretHash: null, enrolUntil: null },
    secret: 'sha256:secret',
    now: at,
    want: 'credential used',
  },
  {
    name: 'credential revoked',
    trust: { ...enrolled, credentialHash: null },
    secret: 'sha256:secret',
    now: at,
    want: 'no credential',
  },
];

for (const c of cases)
  it(`decideEnrolRetry: ${c.name}`, () => assert.equal(decideEnrolRetry(c.trust, c.secret, c.now), c.want));
