// The keyring parser and armor against real gpg: keys gpg made are read with gpg's fingerprints, two members' keys
// armored as one block are both listed by `gpg --show-keys` and dearmor to the same bytes, secret keys are refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { armorPublicKeys, parsePublicKeys } from './openpgp-keyring.js';
import { openRepoKey } from './repo-key.js';

const work = mkdtempSync(join(tmpdir(), 'kiln-openpgp-'));
after(() => rmSync(work, { recursive: true, force: true }));
const gpg = (home: string, args: string[], input?: string) =>
  execFileSync('gpg', ['--homedir', home, '--batch', '--no-tty', ...args], {
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });

test("two members' repo keys: fingerprints as gpg gives them, one armored block gpg reads back, secret keys refused", async () => {
  const homes = [join(work, 'a'), join(work, 'b')];
  const keys = [];
  for (const h of homes) {
    const k = await openRepoKey(h);
    await k.close();
    keys.push(k);
  }
  const [a, b] = keys as [(typeof keys)[0], (typeof keys)[0]];
  assert.deepEqual(
    parsePublicKeys(a.publicKey).map((k) => k.fingerprint),
    [a.fingerprint],
  );
  const ring = Buffer.concat([a.publicKey, b.publicKey]);
  const parsed = parsePublicKeys(ring);
  assert.deepEqual(
    parsed.map((k) => k.fingerprint),
    [a.fingerprint, b.fingerprint],
  );
  assert.deepEqual(Buffer.from(parsed[1]!.bytes), Buffer.from(b.publicKey), 'each key keeps its own packets');

  const armored = armorPublicKeys(ring);
  const fresh = join(work, 'reader');
  execFileSync('mkdir', ['-m', '0700', fresh]);
  const listed = gpg(fresh, ['--with-colons', '--show-keys'], armored).toString();
  assert.deepEqual(
    [...listed.matchAll(/^fpr:+([0-9A-F]{40}):/gm)]
      .map((m) => m[1])
      .filter((f) => f === a.fingerprint || f === b.fingerprint),
    [a.fingerprint, b.fingerprint],
  );
  const asc = join(work, 'ring.asc');
  writeFileSync(asc, armored);
  assert.deepEqual(
    gpg(fresh, ['--dearmor', '--output', '-', asc]),
    ring,
    'the checksum and the bytes are as gpg reads them',
  );

  const secret = gpg(homes[0]!, ['--export-secret-keys', a.fingerprint]);
  assert.throws(() => parsePublicKeys(secret), { code: 'validation_failed', message: /secret key material/ });
  assert.throws(() => parsePublicKeys(readFileSync(asc)), { code: 'validation_failed' }, 'armored text is not binary');
  assert.throws(() => parsePublicKeys(ring.subarray(0, ring.length - 3)), /runs past the end/);
  assert.throws(() => parsePublicKeys(new Uint8Array()), /empty/);
});
