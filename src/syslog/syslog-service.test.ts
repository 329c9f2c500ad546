import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { createMemorySocket } from '../net/datagram/memory-socket.js';
import { silentLogger } from '../log/logger.js';
import { createAttributor } from './attribution.js';
import { sessionOf } from './session-tag.js';
import { openLogStore, type SyslogStore } from './log-store.js';
import { createSyslogService, type SyslogServiceDeps } from './syslog-service.js';
import { startSyslogReceiver } from './syslog-receiver.js';
import { defaultSyslogConfig } from './syslog-config.js';

const enc = (s: string) => new TextEncoder().encode(s);
const lookups = {
  leaseOwner: async (ip: string) => (ip === '10.0.0.5' ? '52:54:00:00:00:05' : null),
  hostIdByMac: async (mac: string) => (mac === '52:54:00:00:00:05' ? 'h-leased' : null),
  hostIdByName: async (name: string) => (name === 'web1' ? 'h-named' : null),
};

async function memoryStore() {
  const store = openLogStore(':memory:');
  return { store, close: () => store.close() };
}

function service(store: SyslogStore, over: Partial<SyslogServiceDeps> = {}) {
  return createSyslogService({
    store,
    lookups,
    retention: { maxPerHost: 100, days: 14, maxBytes: 1 << 30 },
    queueLimit: 1000,
    flushMs: 10_000, // tests flush by hand
    ...over,
  });
}

test('attribution: a bound lease on the source address wins, then HOSTNAME (or its first label), else unknown', async () => {
  const calls: string[] = [];
  const attribute = createAttributor({
    leaseOwner: async (ip) => {
      calls.push(ip);
      return lookups.leaseOwner(ip);
    },
    hostIdByMac: lookups.hostIdByMac,
    hostIdByName: lookups.hostIdByName,
  });
  const got = await attribute([
    { sourceIp: '10.0.0.5', hostname: 'web1' },
    { sourceIp: '::ffff:10.0.0.5', hostname: null },
    { sourceIp: '10.0.0.9', hostname: 'web1.lab.test' },
    { sourceIp: '10.0.0.9', hostname: 'stranger' },
    { sourceIp: '10.0.0.9', hostname: null },
  ]);
  assert.deepEqual(got, [
    { hostId: 'h-leased', by: 'lease' },
    { hostId: 'h-leased', by: 'lease' },
    { hostId: 'h-named', by: 'hostname' },
    { hostId: null, by: 'unknown' },
    { hostId: null, by: 'unknown' },
  ]);
  assert.deepEqual(calls, ['10.0.0.5', '10.0.0.9'], 'each address is looked up once per batch');
});

test('the session id comes from [kiln@32473 session=…] or a kiln.session= token, and only in the id form', () => {
  const sd = (value: string) => [{ id: 'kiln@32473', params: [{ name: 'session', value }] }];
  assert.equal(sessionOf({ structuredData: sd('3f2a9c1b7d4e'), text: 'x' }), '3f2a9c1b7d4e');
  assert.equal(sessionOf({ structuredData: [], text: 'agent up kiln.session=0123456789ab now' }), '0123456789ab');
  assert.equal(sessionOf({ structuredData: sd('NOT-AN-ID'), text: 'kiln.session=zz' }), null);
  assert.equal(sessionOf({ structuredData: [], text: 'xkiln.session=0123456789ab' }), null);
});

test('messages are written in batches with host, session and fields; garbage is kept raw and counted; nothing is lost', async () => {
  const { store, close } = await memoryStore();
  const batches: number[] = [];
  const counting: SyslogStore = {
    ...store,
    insertMany: (m: Parameters<SyslogStore['insertMany']>[0]) => {
      batches.push(m.length);
      return store.insertMany(m);
    },
  };
  const svc = service(counting, { batchSize: 3 });
  svc.accept(
    enc('<134>1 2026-12-06T06:00:00Z web1 agent 42 BOOT [kiln@32473 session="3f2a9c1b7d4e"] hello'),
    '10.0.0.5',
  );
  svc.accept(enc('<30>Dec  6 06:00:01 web1 dhcpcd[7]: bound kiln.session=0123456789ab'), '10.0.0.9');
  svc.accept(new Uint8Array([0xff, 0x00, 0x1b, 0x5b, 0x32, 0x4a]), '10.0.0.77');
  svc.accept(enc('<13>plain line'), '10.0.0.5');
  await svc.close();
  assert.deepEqual(batches, [3, 1], 'a full batch is written at once, the rest on close');
  const leased = await svc.list({ hostId: 'h-leased', limit: 10 });
  assert.equal(leased.length, 2);
  assert.equal(leased[0].sessionId, '3f2a9c1b7d4e');
  assert.equal(leased[0].app, 'agent');
  assert.equal(leased[0].procId, '42');
  assert.equal(leased[0].msgId, 'BOOT');
  assert.equal(leased[0].text, 'hello');
  assert.equal(leased[0].severity, 6);
  assert.equal(leased[0].facility, 16);
  const named = await svc.list({ hostId: 'h-named', limit: 10 });
  assert.equal(named.length, 1);
  assert.equal(named[0].sessionId, '0123456789ab');
  assert.equal(named[0].hostname, 'web1');
  const unknown = await svc.list({ hostId: null, limit: 10 });
  assert.equal(unknown.length, 1);
  assert.ok(unknown[0].defects.includes('no_pri'));
  assert.equal(unknown[0].sourceIp, '10.0.0.77');
  assert.equal(svc.counted('received'), 4);
  assert.equal(svc.counted('defective'), 2, 'the garbage, and the line without a timestamp');
  assert.equal(svc.counted('unknown_sender'), 1);
  assert.deepEqual(
    (await svc.list({ hostId: 'h-leased', sessionId: '3f2a9c1b7d4e', limit: 10 })).map((m) => m.text),
    ['hello'],
  );
  await close();
});

test('a full queue drops new messages and counts them; a failing store drops the batch and counts it', async () => {
  const { store, close } = await memoryStore();
  const svc = service(store, { queueLimit: 2 });
  for (let i = 0; i < 5; i++) svc.accept(enc(`<13>line ${i}`), '10.0.0.5');
  assert.equal(svc.counted('queue_full'), 3);
  await svc.flush();
  assert.deepEqual(
    (await svc.list({ hostId: 'h-leased', limit: 10 })).map((m) => m.text),
    ['line 0', 'line 1'],
  );
  const failing = service(
    { ...store, insertMany: () => Promise.reject(new Error('disk full')) },
    { log: silentLogger },
  );
  failing.accept(enc('<13>lost'), '10.0.0.5');
  await failing.flush();
  assert.equal(failing.counted('store_failed'), 1);
  await close();
});

test('retention prunes by age and keeps the newest maxPerHost per host', async () => {
  const { store, close } = await memoryStore();
  let t = Date.parse('2026-11-01T00:00:00Z');
  const svc = service(store, { retention: { maxPerHost: 3, days: 14, maxBytes: 1 << 30 }, now: () => new Date(t) });
  svc.accept(enc('<13>old'), '10.0.0.5');
  await svc.flush();
  t = Date.parse('2026-12-06T00:00:00Z');
  for (let i = 0; i < 5; i++) svc.accept(enc(`<13>new ${i}`), '10.0.0.5');
  svc.accept(enc('<13>other'), '10.0.0.99');
  await svc.flush();
  assert.equal(await svc.prune(), 3);
  assert.deepEqual(
    (await svc.list({ hostId: 'h-leased', limit: 10 })).map((m) => m.text),
    ['new 2', 'new 3', 'new 4'],
  );
  assert.equal((await svc.list({ hostId: null, limit: 10 })).length, 1);
  await close();
});

test('the UDP receiver hands each datagram to the service, cut at maxMessageBytes; a message never touches a host', async () => {
  const { store, close } = await memoryStore();
  const svc = service(store);
  const sock = createMemorySocket({ address: '127.0.0.1', port: 5514 });
  const receiver = await startSyslogReceiver({
    config: { ...defaultSyslogConfig, address: '127.0.0.1', port: 5514, tcp: false, maxMessageBytes: 480 },
    bindUdp: async () => sock,
    accept: (b, ip, truncated) => svc.accept(b, ip, truncated),
    count: (w) => svc.count(w),
    log: silentLogger,
  });
  sock.inject(enc('<13>short'), { address: '10.0.0.5', port: 40000 });
  sock.inject(enc(`<13>${'x'.repeat(1000)}`), { address: '10.0.0.5', port: 40000 });
  await receiver.close();
  await svc.flush();
  const got = await svc.list({ hostId: 'h-leased', limit: 10 });
  assert.equal(got.length, 2);
  assert.equal(got[0].text, 'short');
  assert.equal(got[1].text.length, 480 - 4);
  assert.ok(got[1].defects.includes('too_long'));
  assert.equal(sock.sent.length, 0, 'the receiver never answers');
  await close();
});

test('TCP: a connection over the per-source cap is refused and a silent one is closed, both counted', async () => {
  const counted: string[] = [];
  const receiver = await startSyslogReceiver({
    config: {
      ...defaultSyslogConfig,
      address: '127.0.0.1',
      port: 0,
      limits: { ...defaultSyslogConfig.limits, connectionsPerSource: 1, idleSeconds: 1 },
    },
    bindUdp: async () => createMemorySocket({ address: '127.0.0.1', port: 0 }),
    accept: () => {},
    count: (w) => counted.push(w),
    log: silentLogger,
  });
  const open = () =>
    new Promise<{ closed: Promise<number> }>((resolve) => {
      const t0 = Date.now();
      const s = connect(receiver.tcpPort!, '127.0.0.1', () =>
        resolve({ closed: new Promise((r) => s.on('close', () => r(Date.now() - t0))) }),
      );
      s.on('error', () => {});
    });
  try {
    const first = await open();
    const second = await open();
    assert.ok((await second.closed) < 900, 'the second connection from one source is closed at once');
    assert.ok((await first.closed) >= 900, 'the first is closed when idle');
    assert.deepEqual(counted, ['connection_refused', 'connection_idle']);
  } finally {
    await receiver.close();
  }
});

test('a dead UDP socket is re-opened with back-off on the same port, each failed round counted and logged, and receiving goes on', async () => {
  const { store, close } = await memoryStore();
  const svc = service(store);
  const counted: string[] = [];
  const sockets: Array<ReturnType<typeof createMemorySocket>> = [];
  let failures = 0;
  const errors: string[] = [];
  const receiver = await startSyslogReceiver({
    config: { ...defaultSyslogConfig, address: '127.0.0.1', port: 5514, tcp: false },
    bindUdp: async (local) => {
      if (sockets.length > 0 && failures < 2) {
        failures++;
        throw Object.assign(new Error('no such device'), { code: 'ENODEV' });
      }
      const s = createMemorySocket(local);
      sockets.push(s);
      return s;
    },
    accept: (b, ip, truncated) => svc.accept(b, ip, truncated),
    count: (w) => counted.push(w),
    log: { ...silentLogger, error: (_o: unknown, msg: string) => void errors.push(msg) } as typeof silentLogger,
    reopenDelaysMs: [1, 1],
    reopenRoundPauseMs: 1,
  });
  sockets[0].inject(enc('<13>before'), { address: '10.0.0.5', port: 40000 });
  await receiver.reopenUdp(Object.assign(new Error('bad fd'), { code: 'EBADF' }));
  assert.equal(sockets.length, 2, 'a new socket after two failed attempts');
  assert.equal(receiver.udp, sockets[1]);
  assert.equal(sockets[1].local.port, 5514);
  assert.deepEqual(counted, ['socket_failed', 'socket_reopened'], 'round 1 (two attempts) failed, round 2 worked');
  assert.equal(errors.filter((m) => /could not be re-opened/.test(m)).length, 1, 'logged once per round');
  sockets[1].inject(enc('<13>after'), { address: '10.0.0.5', port: 40000 });
  await receiver.close();
  await svc.flush();
  assert.deepEqual(
    (await svc.list({ hostId: 'h-leased', limit: 10 })).map((m) => m.text),
    ['before', 'after'],
  );
  await close();
});
