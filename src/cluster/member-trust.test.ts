import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../store/database.js';
import { migrateToLatest } from '../store/migrate.js';
import { listEvents } from '../event/event-log.js';
import { createWrapKeyPair, unwrapKey } from '../trust/credential/key-wrap.js';
import type { DataKey } from '../trust/credential/secret-box.js';
import { loadOrCreateSshCa } from '../trust/ssh/ssh-ca.js';
import { loadOrCreateTlsCa } from '../trust/tls/tls-ca.js';
import { parseJoinToken } from './join-token.js';
import { createMemberTrust } from './member-trust.js';

async function cas(dir: string) {
  return { sshCa: await loadOrCreateSshCa(join(dir, 'ssh')), tlsCa: await loadOrCreateTlsCa(join(dir, 'tls')) };
}

test('member trust: the data key check, a one-time join that wraps the data key, every member CA listed', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-members-'));
  const store = openSqlite(':memory:');
  try {
    await migrateToLatest(store.db);
    let t = Date.parse('2026-12-06T18:00:00Z');
    const now = () => new Date(t);
    const dataKey = randomBytes(32) as unknown as DataKey;
    const a = await cas(join(work, 'a'));
    const trustA = createMemberTrust({
      db: store.db,
      own: { ...a, name: 'a', url: 'http://10.107.0.1:8080' },
      dataKey,
      staleMs: 10_000,
      now,
    });
    await trustA.start();
    assert.deepEqual(
      trustA.list().map((m) => [m.name, m.self, m.addedBy]),
      [['a', true, 'start']],
    );
    assert.equal(trustA.sshCaKeys().length, 1);
    assert.equal(trustA.memberUrls()[0], 'http://10.107.0.1:8080');

    // Another data key on the same store: refused at start, naming the fix.
    const b = await cas(join(work, 'b'));
    const stranger = createMemberTrust({
      db: store.db,
      own: { ...b, name: 'b', url: 'http://10.107.0.2:8080' },
      dataKey: randomBytes(32) as unknown as DataKey,
      staleMs: 10_000,
      now,
    });
    await assert.rejects(stranger.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'config_invalid');
      assert.match(err.message, /kiln controller join/);
      return true;
    });

    // A join token: its secret is stored only hashed.
    const made = await trustA.createJoinToken('token:admin', 15);
    const token = parseJoinToken(made.token);
    const row = await store.db.selectFrom('join_tokens').selectAll().executeTakeFirstOrThrow();
    assert.ok(!JSON.stringify(row).includes(token.secret));
    const pair = createWrapKeyPair();
    const request = {
      token: made.token,
      name: 'b',
      sshCaPublicKey: b.sshCa.publicKeyLine,
      tlsCaPem: b.tlsCa.certPem,
      wrapPublicKey: pair.publicKey,
    };
    // Bad requests spend nothing: a private key in the PEM, a certificate that is no CA, a key that is no X25519 key.
    const code = (c: string) => (err: Error & { code?: string }) => err.code === c;
    await assert.rejects(
      trustA.join(
        { ...request, tlsCaPem: `${b.tlsCa.certPem}-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n` },
        'admin',
      ),
      code('validation_failed'),
    );
    await assert.rejects(trustA.join({ ...request, wrapPublicKey: 'x' }, 'admin'), code('validation_failed'));
    await assert.rejects(
      trustA.join({ ...request, token: made.token.replace(token.secret, 'A'.repeat(43)) }, 'admin'),
      code('join_token_invalid'),
    );
    const reply = await trustA.join(request, 'token:admin');
    assert.deepEqual(Buffer.from(unwrapKey(reply.wrapped, pair, `join:${token.id}`)), Buffer.from(dataKey));
    assert.deepEqual(
      reply.members.map((m) => [m.name, m.self]),
      [
        ['a', true],
        ['b', false],
      ],
    );
    // Single use.
    await assert.rejects(trustA.join(request, 'token:admin'), code('join_token_invalid'));
    // The joined member starts with the unwrapped key: accepted, and its own CA comes first in its view.
    const trustB = createMemberTrust({
      db: store.db,
      own: { ...b, name: 'b', url: 'http://10.107.0.2:8080' },
      dataKey: Buffer.from(unwrapKey(reply.wrapped, pair, `join:${token.id}`)) as unknown as DataKey,
      staleMs: 10_000,
      now,
    });
    await trustB.start();
    assert.deepEqual(
      trustB.list().map((m) => [m.name, m.self]),
      [
        ['b', true],
        ['a', false],
      ],
    );
    assert.equal(trustB.tlsCaBundle().match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.ok(trustB.tlsCaBundle().startsWith(b.tlsCa.certPem.trim()));
    await trustA.refresh();
    assert.equal(trustA.sshCaKeys().length, 2);

    // An expired token is refused.
    const late = await trustA.createJoinToken('token:admin', 1);
    t += 61_000;
    const c = await cas(join(work, 'c'));
    await assert.rejects(
      trustA.join(
        {
          token: late.token,
          name: 'c',
          sshCaPublicKey: c.sshCa.publicKeyLine,
          tlsCaPem: c.tlsCa.certPem,
          wrapPublicKey: createWrapKeyPair().publicKey,
        },
        'admin',
      ),
      code('join_token_invalid'),
    );
    const kinds = (await listEvents(store.db, {})).map((e) => e.kind);
    assert.deepEqual(
      kinds.filter((k) => k.startsWith('controller.')),
      ['controller.join_token', 'controller.joined', 'controller.join_token'],
    );
  } finally {
    await store.close();
    rmSync(work, { recursive: true, force: true });
  }
});
