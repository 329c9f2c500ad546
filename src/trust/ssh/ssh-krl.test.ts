import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasCode } from '../../error/kiln-error.js';
import { encodeKrl } from './ssh-krl.js';
import { SshReader, SshWriter } from './ssh-wire.js';

const caLine = `ssh-ed25519 ${Buffer.from(new SshWriter().string('ssh-ed25519').string(new Uint8Array(32).fill(1)).bytes()).toString('base64')}`;
const keyLine = `ssh-ed25519 ${Buffer.from(new SshWriter().string('ssh-ed25519').string(new Uint8Array(32).fill(2)).bytes()).toString('base64')}`;

test('encodes the PROTOCOL.krl header and a sorted, de-duplicated serial list', () => {
  const krl = encodeKrl({
    ca: caLine,
    serials: [7, 3n, 7],
    keyIds: ['host:b', 'host:a'],
    keys: [keyLine],
    version: 9,
    generatedAt: new Date(1_700_000_000_500),
    comment: 'c',
  });
  const r = new SshReader(krl, 'krl');
  assert.equal(r.uint64(), 0x5353484b524c0a00n);
  assert.equal(r.uint32(), 1);
  assert.equal(r.uint64(), 9n);
  assert.equal(r.uint64(), 1_700_000_000n);
  assert.equal(r.uint64(), 0n);
  assert.equal(r.string().length, 0);
  assert.equal(r.text(), 'c');
  assert.equal(r.byte(), 1);
  const cert = new SshReader(r.string(), 'certs');
  assert.equal(Buffer.from(cert.string()).toString('base64'), caLine.split(' ')[1]);
  assert.equal(cert.string().length, 0);
  assert.equal(cert.byte(), 0x20);
  const serials = new SshReader(cert.string(), 'serials');
  assert.deepEqual([serials.uint64(), serials.uint64()], [3n, 7n]);
  serials.end();
  assert.equal(cert.byte(), 0x23);
  const ids = new SshReader(cert.string(), 'ids');
  assert.deepEqual([ids.text(), ids.text()], ['host:a', 'host:b']);
  cert.end();
  assert.equal(r.byte(), 2);
  const keys = new SshReader(r.string(), 'keys');
  assert.equal(Buffer.from(keys.string()).toString('base64'), keyLine.split(' ')[1]);
  r.end();
});

test('an empty KRL is just the header; serial 0 is refused', () => {
  assert.equal(encodeKrl({ ca: caLine, version: 1, generatedAt: new Date(0) }).length, 8 + 4 + 8 + 8 + 8 + 4 + 4);
  assert.throws(
    () => encodeKrl({ ca: caLine, serials: [0], version: 1, generatedAt: new Date(0) }),
    (e) => hasCode(e, 'validation_failed'),
  );
});

test('several CAs (controllers that joined each other): one certificate section per CA, each with every serial', () => {
  const krl = encodeKrl({ ca: [caLine, keyLine], serials: [5, 2], version: 1, generatedAt: new Date(0) });
  const r = new SshReader(krl, 'krl');
  r.uint64();
  r.uint32();
  r.uint64();
  r.uint64();
  r.uint64();
  r.string();
  r.text();
  for (const ca of [caLine, keyLine]) {
    assert.equal(r.byte(), 1);
    const cert = new SshReader(r.string(), 'certs');
    assert.equal(Buffer.from(cert.string()).toString('base64'), ca.split(' ')[1]);
    cert.string();
    assert.equal(cert.byte(), 0x20);
    const serials = new SshReader(cert.string(), 'serials');
    assert.deepEqual([serials.uint64(), serials.uint64()], [2n, 5n]);
    cert.end();
  }
  r.end();
});
