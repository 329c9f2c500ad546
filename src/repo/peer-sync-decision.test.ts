import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  backoffMs,
  decidePeerSync,
  FIRST_BACKOFF_MS,
  formatReleasesRecord,
  MAX_BACKOFF_MS,
  MAX_SYNC_ATTEMPTS,
  parseReleasesRecord,
  recordKeyOf,
  type PeerReleases,
  type PublishedRelease,
  type SyncAttempt,
} from './peer-sync-decision.js';

const H = (c: string) => c.repeat(64);
const rel = (suite: string, minute: number, hash = 'a'): PublishedRelease => ({
  suite,
  date: new Date(Date.UTC(2026, 11, 7, 18, minute)).toISOString(),
  sha256: H(hash),
});
const local = (...r: PublishedRelease[]) => new Map(r.map((x) => [x.suite, x]));
const peer = (name: string, releases: PublishedRelease[] | null, hasKey = true): PeerReleases => ({
  name,
  hasKey,
  releases,
});
const NOW = Date.UTC(2026, 11, 7, 19);

test('which peer a member takes its subset from: one named case per branch', () => {
  const cases: Array<{
    name: string;
    suites: string[];
    local: Map<string, PublishedRelease>;
    peers: PeerReleases[];
    attempts?: Map<string, SyncAttempt>;
    want: string | RegExp;
  }> = [
    {
      name: 'nothing here yet: the peer with the subset',
      suites: ['bookworm'],
      local: local(),
      peers: [peer('a', [rel('bookworm', 0)])],
      want: 'a',
    },
    {
      name: "the peer's Release is newer",
      suites: ['bookworm'],
      local: local(rel('bookworm', 0)),
      peers: [peer('a', [rel('bookworm', 5, 'b')])],
      want: 'a',
    },
    {
      name: 'the same Release (a member that took ours): nothing',
      suites: ['bookworm'],
      local: local(rel('bookworm', 5)),
      peers: [peer('a', [rel('bookworm', 5)])],
      want: /a: serves nothing newer/,
    },
    {
      name: 'an older peer Release is never taken (no rollback)',
      suites: ['bookworm'],
      local: local(rel('bookworm', 5)),
      peers: [peer('a', [rel('bookworm', 1, 'b')])],
      want: /a: its bookworm Release .* is older than this member's/,
    },
    {
      name: 'one suite newer and another older: refused whole',
      suites: ['bookworm', 'trixie'],
      local: local(rel('bookworm', 5), rel('trixie', 5)),
      peers: [peer('a', [rel('bookworm', 9, 'b'), rel('trixie', 1, 'c')])],
      want: /a: its trixie Release .* is older/,
    },
    {
      name: 'a peer without a suite the profiles name',
      suites: ['bookworm', 'trixie'],
      local: local(),
      peers: [peer('a', [rel('bookworm', 9)])],
      want: /a: serves no suite trixie/,
    },
    {
      name: 'a peer with no repo key in the store',
      suites: ['bookworm'],
      local: local(),
      peers: [peer('a', [rel('bookworm', 9)], false)],
      want: /a: has no repo key/,
    },
    {
      name: 'a peer that records no subset',
      suites: ['bookworm'],
      local: local(),
      peers: [peer('a', null)],
      want: /a: records no published subset/,
    },
    {
      name: 'the newest of two peers wins',
      suites: ['bookworm'],
      local: local(rel('bookworm', 0)),
      peers: [peer('a', [rel('bookworm', 3, 'b')]), peer('b', [rel('bookworm', 7, 'c')])],
      want: 'b',
    },
    {
      name: 'two peers with one Release: the first by name',
      suites: ['bookworm'],
      local: local(),
      peers: [peer('c', [rel('bookworm', 3)]), peer('b', [rel('bookworm', 3)])],
      want: 'b',
    },
    {
      name: 'a failed peer publication waits out its back-off; another peer goes ahead',
      suites: ['bookworm'],
      local: local(),
      peers: [peer('a', [rel('bookworm', 9)]), peer('b', [rel('bookworm', 3, 'b')])],
      attempts: new Map([[recordKeyOf('a', [rel('bookworm', 9)]), { failures: 1, nextAt: NOW + 5000 }]]),
      want: 'b',
    },
    {
      name: 'still waiting after a failure',
      suites: ['bookworm'],
      local: local(),
      peers: [peer('a', [rel('bookworm', 9)])],
      attempts: new Map([[recordKeyOf('a', [rel('bookworm', 9)]), { failures: 2, nextAt: NOW + 5000 }]]),
      want: /a: waiting 5 s after a failure/,
    },
    {
      name: 'the back-off passed: tried again',
      suites: ['bookworm'],
      local: local(),
      peers: [peer('a', [rel('bookworm', 9)])],
      attempts: new Map([[recordKeyOf('a', [rel('bookworm', 9)]), { failures: 2, nextAt: NOW }]]),
      want: 'a',
    },
    {
      name: 'too many failures of one publication: given up',
      suites: ['bookworm'],
      local: local(),
      peers: [peer('a', [rel('bookworm', 9)])],
      attempts: new Map([[recordKeyOf('a', [rel('bookworm', 9)]), { failures: MAX_SYNC_ATTEMPTS, nextAt: 0 }]]),
      want: /a: gave up after 6 failed syncs/,
    },
    {
      name: 'no suite named by a profile: nothing',
      suites: [],
      local: local(),
      peers: [peer('a', [rel('bookworm', 9)])],
      want: /a: serves nothing newer/,
    },
  ];
  for (const c of cases) {
    const d = decidePeerSync({
      suites: c.suites,
      local: c.local,
      peers: c.peers,
      attempts: c.attempts ?? new Map(),
      now: NOW,
    });
    if (typeof c.want === 'string') {
      assert.equal(d.action, 'sync', c.name);
      assert.equal(d.action === 'sync' && d.peer, c.want, c.name);
    } else {
      assert.equal(d.action, 'none', c.name);
      const why = d.action === 'none' ? d.skipped.map((s) => `${s.peer}: ${s.reason}`).join('; ') : '';
      assert.match(why, c.want, c.name);
    }
  }
});

test('a new publication of a failed peer is a new record: its attempts start afresh', () => {
  assert.notEqual(recordKeyOf('a', [rel('bookworm', 1)]), recordKeyOf('a', [rel('bookworm', 2, 'b')]));
  assert.equal(recordKeyOf('a', [rel('bookworm', 1)]), recordKeyOf('a', [rel('bookworm', 1)]));
});

test('the back-off doubles from the first wait up to its ceiling', () => {
  assert.equal(backoffMs(1), FIRST_BACKOFF_MS);
  assert.equal(backoffMs(2), 2 * FIRST_BACKOFF_MS);
  assert.equal(backoffMs(3), 4 * FIRST_BACKOFF_MS);
  assert.equal(backoffMs(40), MAX_BACKOFF_MS);
});

test('the store record: written in suite order, read back; anything else is no record', () => {
  const record = formatReleasesRecord([rel('trixie', 2, 'b'), rel('bookworm', 1)]);
  assert.deepEqual(parseReleasesRecord(record), [rel('bookworm', 1), rel('trixie', 2, 'b')]);
  for (const bad of [
    null,
    '',
    'not json',
    '{}',
    '[{"suite":"x"}]',
    `[{"suite":"x","date":"then","sha256":"${H('a')}"}]`,
  ])
    assert.equal(parseReleasesRecord(bad), null, String(bad));
});
