import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../error/kiln-error.js';
import { createMemoryLogger } from '../log/logger.js';
import { loadOrIssueServerCertificate } from '../trust/tls/server-certificate.js';
import { loadOrCreateTlsCa } from '../trust/tls/tls-ca.js';
import { memberKeyOf, signMemberRequest, verifyMemberRequest } from './member-credential.js';
import { createPeerFetcher, peerContentPath, type ContentSink } from './peer-fetch.js';
import type { PeerEndpoint } from './sql-cluster-store.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const dataKey = randomBytes(32);
const key = memberKeyOf(dataKey);

/** A peer on loopback HTTPS with its own CA; `answer` decides each body; counts requests per path. */
async function startPeer(
  t: { after(fn: () => Promise<void>): void },
  name: string,
  answer: (path: string) => Buffer | null,
): Promise<{ peer: PeerEndpoint; hits: Map<string, number>; caPem: string }> {
  const dir = await mkdtemp(join(tmpdir(), `kiln-peer-${name}-`));
  const ca = await loadOrCreateTlsCa(dir);
  const cert = await loadOrIssueServerCertificate(dir, ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const hits = new Map<string, number>();
  const server: Server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    try {
      verifyMemberRequest(key, req.headers.authorization, { method: 'GET', path, nowMs: Date.now() });
    } catch {
      res.writeHead(401).end();
      return;
    }
    const body = answer(path);
    if (body === null) res.writeHead(404).end();
    else res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });
  return {
    peer: { id: name, name, apiUrl: `https://127.0.0.1:${port}`, tlsCaPem: ca.certPem },
    hits,
    caPem: ca.certPem,
  };
}

/** A sink that keeps the bytes only when they hash to `id` (what the object store's put does). */
function checkingSink(id: string, kept: Buffer[]): ContentSink {
  return async (chunks) => {
    const parts: Buffer[] = [];
    for await (const c of chunks) parts.push(Buffer.from(c));
    const all = Buffer.concat(parts);
    if (sha(all) !== id) throw new KilnError('validation_failed', `hashes to ${sha(all)}`);
    kept.push(all);
  };
}

const fetcherFor = (peers: PeerEndpoint[], o: { maxBytes?: number; log?: ReturnType<typeof createMemoryLogger> }) =>
  createPeerFetcher({
    peers: async () => peers,
    sign: (method, path) => signMemberRequest(key, { member: 'me', method, path, nowMs: Date.now() }),
    concurrency: 2,
    maxBytes: o.maxBytes ?? 1 << 20,
    log: o.log,
  });

test('a peer that sends wrong bytes is logged and passed over; the next peer serves; concurrent fetches share one', async (t) => {
  const good = randomBytes(5000);
  const id = sha(good);
  const liar = await startPeer(t, 'liar', () => randomBytes(5000));
  const empty = await startPeer(t, 'empty', () => null);
  const honest = await startPeer(t, 'honest', (p) => (p === peerContentPath('objects', id) ? good : null));
  const log = createMemoryLogger();
  const fetcher = fetcherFor([liar.peer, empty.peer, honest.peer], { log });
  t.after(() => fetcher.close());
  const kept: Buffer[] = [];
  const served = await Promise.all(
    Array.from({ length: 5 }, () => fetcher.fetch('objects', id, checkingSink(id, kept))),
  );
  assert.deepEqual(served, Array(5).fill('honest'));
  assert.equal(kept.length, 1, 'stored once');
  assert.deepEqual(kept[0], good);
  const path = peerContentPath('objects', id);
  assert.equal(honest.hits.get(path), 1, 'one fetch for five callers');
  assert.equal(liar.hits.get(path), 1);
  assert.ok(
    log.lines.some(
      (l) =>
        l.level === 'warn' && /do not hash to the id/.test(l.msg ?? '') && (l.obj as { peer?: string }).peer === 'liar',
    ),
  );
  // No peer has it: null, nothing kept.
  assert.equal(await fetcher.fetch('objects', sha(randomBytes(8)), checkingSink('x', kept)), null);
  assert.equal(kept.length, 1);
});

test('a peer whose certificate is not from its listed CA is refused at TLS; a peer over the size bound is refused', async (t) => {
  const body = randomBytes(4096);
  const id = sha(body);
  const a = await startPeer(t, 'a', () => body);
  const b = await startPeer(t, 'b', () => body);
  const log = createMemoryLogger();
  // a's URL listed with b's CA: someone else answering at that address.
  const impostor = { ...a.peer, tlsCaPem: b.caPem };
  const fetcher = fetcherFor([impostor], { log });
  t.after(() => fetcher.close());
  assert.equal(await fetcher.fetch('objects', id, checkingSink(id, [])), null);
  assert.equal(a.hits.size, 0, 'no request reached it');
  assert.ok(log.lines.some((l) => /fetching from the peer failed/.test(l.msg ?? '')));
  const small = fetcherFor([b.peer], { maxBytes: 1000, log });
  t.after(() => small.close());
  assert.equal(await small.fetch('objects', id, checkingSink(id, [])), null);
  assert.ok(log.lines.some((l) => /more than the size bound/.test(l.msg ?? '')));
});

test('the member credential names one method and path, within 60 s, under the data key', () => {
  const path = '/api/v1/cluster/content/objects/' + 'a'.repeat(64);
  const now = 1_800_000_000_000;
  const h = signMemberRequest(key, { member: 'm-1', method: 'GET', path, nowMs: now });
  assert.equal(verifyMemberRequest(key, h, { method: 'GET', path, nowMs: now + 59_000 }), 'm-1');
  const refused = (header: string | undefined, o: { path?: string; method?: string; nowMs?: number } = {}) =>
    assert.throws(
      () =>
        verifyMemberRequest(key, header, { method: o.method ?? 'GET', path: o.path ?? path, nowMs: o.nowMs ?? now }),
      (e: unknown) => e instanceof KilnError && e.code === 'credential_invalid',
    );
  refused(undefined);
  refused('Bearer kt_x');
  refused(h, { path: path.replace(/a$/, 'b') });
  refused(h, { method: 'POST' });
  refused(h, { nowMs: now + 61_000 });
  refused(h, { nowMs: now - 61_000 });
  refused(signMemberRequest(memberKeyOf(randomBytes(32)), { member: 'm-1', method: 'GET', path, nowMs: now }));
  refused(h.replace('m-1', 'm-2'));
});
