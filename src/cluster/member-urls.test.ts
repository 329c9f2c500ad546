// The failover lists a member hands to machines (docs/cluster.md, "One address for machines"): every healthy
// member's base URL and node API URL, this one's first, the others oldest start first; and every member URL seen
// in the last day, healthy or not (the deploying member of a boot spec may be dead).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import type { DataKey } from '../trust/credential/secret-box.js';
import { loadOrCreateSshCa } from '../trust/ssh/ssh-ca.js';
import { loadOrCreateTlsCa } from '../trust/tls/tls-ca.js';
import { createMemberTrust } from './member-trust.js';
import { putMember, stopMember } from './sql-cluster-store.js';

test("member URLs: healthy members' base and API URLs after this one's; every recent member's base URL known", async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-member-urls-'));
  const store = openSqlite(':memory:');
  try {
    await migrateToLatest(store.db);
    const t = Date.parse('2026-12-06T20:00:00Z');
    const at = (ms: number) => new Date(t - ms).toISOString();
    const member = (id: string, url: string, apiUrl: string | null, startedMsAgo: number, seenMsAgo: number) =>
      putMember(store.db, {
        id,
        name: id,
        url,
        apiUrl,
        version: '0',
        startedAt: at(startedMsAgo),
        lastSeen: at(seenMsAgo),
      });
    await member('b', 'http://10.107.0.2:8080', 'https://10.107.0.2:8443', 50_000, 1_000);
    await member('c', 'http://10.107.0.3:8080', 'https://10.107.0.3:8443', 90_000, 2_000);
    await member('dead', 'http://10.107.0.4:8080', 'https://10.107.0.4:8443', 80_000, 60_000);
    await member('old', 'http://10.107.0.5:8080', null, 70_000, 500);
    await member('gone', 'http://10.107.0.6:8080', 'https://10.107.0.6:8443', 60_000, 1_000);
    await stopMember(store.db, 'gone', at(1_000));
    const trust = createMemberTrust({
      db: store.db,
      own: {
        sshCa: await loadOrCreateSshCa(join(work, 'ssh')),
        tlsCa: await loadOrCreateTlsCa(join(work, 'tls')),
        name: 'a',
        url: 'http://10.107.0.1:8080',
        apiUrl: 'https://10.107.0.1:8443',
      },
      dataKey: randomBytes(32) as unknown as DataKey,
      staleMs: 10_000,
      now: () => new Date(t),
    });
    await trust.start();
    assert.deepEqual(trust.memberUrls(), [
      'http://10.107.0.1:8080',
      'http://10.107.0.3:8080',
      'http://10.107.0.5:8080',
      'http://10.107.0.2:8080',
    ]);
    assert.deepEqual(
      trust.memberApiUrls(),
      ['https://10.107.0.1:8443', 'https://10.107.0.3:8443', 'https://10.107.0.2:8443'],
      'a member row from before migration 0480 (no API URL) is left out',
    );
    assert.deepEqual([...trust.knownMemberUrls()].sort(), [
      'http://10.107.0.1:8080',
      'http://10.107.0.2:8080',
      'http://10.107.0.3:8080',
      'http://10.107.0.4:8080',
      'http://10.107.0.5:8080',
      'http://10.107.0.6:8080',
    ]);
  } finally {
    await store.close();
    rmSync(work, { recursive: true, force: true });
  }
});
