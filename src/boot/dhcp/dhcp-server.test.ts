import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDhcpServer, type DhcpBackend, type DhcpHost, type DhcpTiming } from './dhcp-server.js';
import { createMemorySocket, type MemorySocket } from '../../net/datagram/memory-socket.js';
import { createBrokenLeaseStore, createMemoryLeaseStore, type LeaseStore } from './lease-store.js';
import { POOL_SCAN_BUDGET } from './address-allocator.js';
import { defaultDhcpConfig, type DhcpConfig, type DhcpSubnet } from './dhcp-config.js';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from '../../protocols/dhcp4/packet.js';
import { ipOption, textOption, uintOption } from '../../protocols/dhcp4/options.js';
import { summarizeDhcp } from '../../protocols/dhcp4/summarize.js';
import { createMemoryLogger } from '../../log/logger.js';
import type { DeadMember } from './member-takeover.js';

const subnet = (over: Partial<DhcpSubnet> = {}): DhcpSubnet => ({
  cidr: '10.0.0.0/24',
  mode: 'full',
  pools: [{ start: '10.0.0.100', end: '10.0.0.102' }],
  router: '10.0.0.1',
  dns: ['10.0.0.1'],
  leaseSeconds: 600,
  attached: true,
  ...over,
});
const config = (subnets: DhcpSubnet[]): DhcpConfig => ({
  ...defaultDhcpConfig,
  enabled: true,
  serverAddress: '10.0.0.1',
  httpBase: 'http://10.0.0.1:8080',
  subnets,
});
const backend = (hosts: Record<string, DhcpHost> = {}): DhcpBackend & { unknown: string[] } => {
  const unknown: string[] = [];
  return {
    unknown,
    findHostByMac: async (mac) => hosts[mac] ?? null,
    onUnknownMac: (mac) => {
      unknown.push(mac);
    },
  };
};

function request(
  type: number,
  mac: number,
  extra: Partial<DhcpPacket> = {},
  options: DhcpPacket['options'] = [],
): Uint8Array {
  const chaddr = new Uint8Array(16);
  chaddr.set([0x52, 0x54, 0, 0, 0, mac]);
  return encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x1000 + mac,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: [uintOption(53, type, 1), ...options],
    ...extra,
  });
}
const client = { address: '0.0.0.0', port: 68 };

async function serve(
  subnets: DhcpSubnet[],
  opts: {
    leases?: LeaseStore;
    hosts?: Record<string, DhcpHost>;
    now?: () => number;
    onTiming?: (t: DhcpTiming) => void;
    config?: Partial<DhcpConfig>;
    deadMembers?: () => ReadonlyMap<string, DeadMember>;
  } = {},
) {
  const dhcp = createMemorySocket();
  const pxe = createMemorySocket();
  const log = createMemoryLogger();
  const b = backend(opts.hosts);
  const server = await startDhcpServer({
    config: { ...config(subnets), ...opts.config },
    backend: b,
    leases: opts.leases ?? createMemoryLeaseStore(),
    log,
    sockets: { dhcp, pxe },
    now: opts.now,
    onTiming: opts.onTiming,
    ...(opts.deadMembers ? { deadMembers: opts.deadMembers } : {}),
  });
  return { dhcp, pxe, log, server, backend: b };
}

/** Sends one datagram and waits (bounded) for the next reply on that socket. */
async function exchange(
  sock: MemorySocket,
  bytes: Uint8Array,
  from = client,
): Promise<{ p: DhcpPacket; to: { address: string; port: number } } | undefined> {
  const before = sock.sent.length;
  sock.inject(bytes, from);
  for (let i = 0; i < 100 && sock.sent.length === before; i++) await new Promise((r) => setTimeout(r, 2));
  const s = sock.sent[before];
  return s && { p: decodeDhcp(s.bytes), to: s.to };
}

test('full mode: DISCOVER/OFFER/REQUEST/ACK binds a pool address and broadcasts to a client without an address', async () => {
  const leases = createMemoryLeaseStore();
  const { dhcp, server } = await serve([subnet()], { leases });
  const offer = await exchange(dhcp, request(1, 1));
  assert.equal(offer?.p.yiaddr, '10.0.0.100');
  assert.deepEqual(offer?.to, { address: '255.255.255.255', port: 68 });
  assert.equal(
    summarizeDhcp(offer.p),
    'DHCPOFFER xid=0x00001001 mac=52:54:00:00:00:01 yiaddr=10.0.0.100 54=10.0.0.1 51=600 1=255.255.255.0 58=300 59=525 3=10.0.0.1 6=10.0.0.1',
  );
  const ack = await exchange(dhcp, request(3, 1, {}, [ipOption(54, '10.0.0.1'), ipOption(50, '10.0.0.100')]));
  assert.equal(summarizeDhcp(ack!.p).split(' ')[0], 'DHCPACK');
  assert.equal((await leases.getByIp('10.0.0.100'))?.mac, '52:54:00:00:00:01');
  await server.close();
});

test('onTiming: each reply reports its stages; an OFFER waits for no commit, an ACK for one', async () => {
  const timings: DhcpTiming[] = [];
  const { dhcp, server } = await serve([subnet()], { onTiming: (t) => timings.push(t) });
  await exchange(dhcp, request(1, 1));
  await exchange(dhcp, request(3, 1, {}, [ipOption(54, '10.0.0.1'), ipOption(50, '10.0.0.100')]));
  await server.close();
  assert.deepEqual(
    timings.map((t) => t.messageType),
    [1, 3],
  );
  const [offer, ack] = timings;
  assert.equal(offer!.committedMs, 0);
  for (const t of timings) {
    assert.ok(t.queuedMs >= 0 && t.decidedMs >= 0 && t.committedMs >= 0, JSON.stringify(t));
    assert.ok(Math.abs(t.totalMs - (t.queuedMs + t.decidedMs + t.committedMs)) < 1, 'the stages add up to the total');
  }
  assert.ok(ack!.receivedAt > offer!.receivedAt);
});

test('admission: with as many REQUESTs waiting for their commit as queueLimit, a DISCOVER is still answered at once', async () => {
  const memory = createMemoryLeaseStore();
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  // A disk that has stalled: every commit waits for the gate.
  const leases: LeaseStore = { ...memory, putMany: async (ls, now) => (await gate, memory.putMany(ls, now)) };
  const limit = 16;
  const { dhcp, server } = await serve([subnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.199' }] })], {
    leases,
    config: { queueLimit: limit },
  });
  for (let m = 0; m < limit; m++)
    dhcp.inject(request(3, 1 + m, {}, [ipOption(54, '10.0.0.1'), ipOption(50, `10.0.0.${100 + m}`)]), client);
  for (let i = 0; i < 50 && server.queued > 0; i++) await new Promise((r) => setTimeout(r, 2));
  assert.equal(server.queued, 0, 'every REQUEST is in flight, waiting for its commit');
  const offer = await exchange(dhcp, request(1, 60));
  assert.equal(offer && summarizeDhcp(offer.p).split(' ')[0], 'DHCPOFFER', 'the OFFER did not wait for the commits');
  open();
  for (let i = 0; i < 200 && dhcp.sent.length < limit + 1; i++) await new Promise((r) => setTimeout(r, 2));
  await server.close();
  const kinds = dhcp.sent.map((s) => summarizeDhcp(decodeDhcp(s.bytes)).split(' ')[0]);
  assert.equal(kinds.filter((k) => k === 'DHCPACK').length, limit, 'every REQUEST was ACKed after its commit');
  assert.equal(server.stats.shed, 0);
});

test('full mode: a second MAC is never offered a held or bound address; an exhausted pool is ignored', async () => {
  const { dhcp, server, log } = await serve([subnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.101' }] })]);
  assert.equal((await exchange(dhcp, request(1, 1)))?.p.yiaddr, '10.0.0.100');
  assert.equal((await exchange(dhcp, request(1, 2)))?.p.yiaddr, '10.0.0.101');
  assert.equal(await exchange(dhcp, request(1, 3)), undefined);
  assert.ok(log.lines.some((l) => (l.obj as { reason?: string }).reason === 'pool exhausted'));
  await server.close();
});

test('full mode: a retransmitted DISCOVER gets the address already offered, not a second one (RFC 2131 §4.3.1)', async () => {
  const { dhcp, server } = await serve([subnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.101' }] })]);
  for (let i = 0; i < 5; i++)
    assert.equal((await exchange(dhcp, request(1, 1)))?.p.yiaddr, '10.0.0.100', `DISCOVER ${i + 1} of MAC 1`);
  // Five DISCOVERs held one address: the second MAC still gets the other one, then binds it.
  assert.equal((await exchange(dhcp, request(1, 2)))?.p.yiaddr, '10.0.0.101');
  assert.equal(
    summarizeDhcp((await exchange(dhcp, request(3, 2, {}, [ipOption(50, '10.0.0.101')])))!.p).split(' ')[0],
    'DHCPACK',
  );
  // MAC 1 binds its offer; a later DISCOVER from it is offered its lease.
  assert.equal(
    summarizeDhcp((await exchange(dhcp, request(3, 1, {}, [ipOption(50, '10.0.0.100')])))!.p).split(' ')[0],
    'DHCPACK',
  );
  assert.equal((await exchange(dhcp, request(1, 1)))?.p.yiaddr, '10.0.0.100');
  await server.close();
});

test('full mode: an offer hold lapses after offerHoldSeconds; then another MAC may be offered the address', async () => {
  let t = 1_000_000;
  const { dhcp, server } = await serve([subnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.100' }] })], {
    now: () => t,
  });
  assert.equal((await exchange(dhcp, request(1, 1)))?.p.yiaddr, '10.0.0.100');
  assert.equal(await exchange(dhcp, request(1, 2)), undefined, 'held for MAC 1: the pool is exhausted for MAC 2');
  t += defaultDhcpConfig.offerHoldSeconds * 1000 + 1;
  assert.equal((await exchange(dhcp, request(1, 2)))?.p.yiaddr, '10.0.0.100', 'the hold lapsed');
  assert.equal(await exchange(dhcp, request(1, 1)), undefined, 'now held for MAC 2');
  await server.close();
});

test('full mode: an offer examines at most POOL_SCAN_BUDGET pool addresses; later DISCOVERs continue where it stopped', async () => {
  // 10 000 addresses, all bound but the last: a whole scan per DISCOVER would block the loop on a full pool.
  const leases = createMemoryLeaseStore();
  const pool = { start: '10.0.0.0', end: '10.0.39.15' }; // 10 000 addresses
  await leases.putMany(
    Array.from({ length: 9999 }, (_, i) => ({
      ip: `10.0.${Math.floor(i / 256)}.${i % 256}`,
      mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
      subnet: '10.0.0.0/16',
      expiresAt: Date.now() + 3_600_000,
      state: 'bound' as const,
    })),
    Date.now(),
  );
  const { dhcp, server } = await serve([subnet({ cidr: '10.0.0.0/16', pools: [pool] })], { leases });
  const answers: Array<string | undefined> = [];
  for (let k = 0; k < 3; k++) answers.push((await exchange(dhcp, request(1, 1)))?.p.yiaddr);
  // 4096 candidates, then the next 4096, then the rest, where the one free address is.
  assert.ok(POOL_SCAN_BUDGET === 4096);
  assert.deepEqual(answers, [undefined, undefined, '10.0.39.15']);
  await server.close();
});

test('full mode: a REQUEST for an address another MAC holds gets a broadcast NAK (RFC 2131 §4.3.2)', async () => {
  const { dhcp, server } = await serve([subnet()]);
  await exchange(dhcp, request(1, 1));
  await exchange(dhcp, request(3, 1, {}, [ipOption(50, '10.0.0.100')]));
  const nak = await exchange(dhcp, request(3, 2, {}, [ipOption(50, '10.0.0.100')]));
  assert.equal(summarizeDhcp(nak!.p), 'DHCPNAK xid=0x00001002 mac=52:54:00:00:00:02 54=10.0.0.1');
  assert.deepEqual(nak!.to, { address: '255.255.255.255', port: 68 });
  await server.close();
});

test('two servers on one lease store never bind one address to two MACs', async () => {
  const leases = createMemoryLeaseStore();
  const a = await serve([subnet()], { leases });
  const b = await serve([subnet()], { leases });
  const offerA = await exchange(a.dhcp, request(1, 1));
  const offerB = await exchange(b.dhcp, request(1, 2));
  assert.equal(offerA?.p.yiaddr, offerB?.p.yiaddr); // each server holds offers only in its own memory
  const ackA = await exchange(a.dhcp, request(3, 1, {}, [ipOption(50, offerA!.p.yiaddr)]));
  const ackB = await exchange(b.dhcp, request(3, 2, {}, [ipOption(50, offerB!.p.yiaddr)]));
  assert.equal(summarizeDhcp(ackA!.p).split(' ')[0], 'DHCPACK');
  assert.equal(summarizeDhcp(ackB!.p).split(' ')[0], 'DHCPNAK');
  assert.equal((await leases.getByIp(offerA!.p.yiaddr))?.mac, '52:54:00:00:00:01');
  await a.server.close();
  await b.server.close();
});

test('relayed requests pick the subnet by giaddr and are answered to the relay on port 67', async () => {
  const remote = subnet({
    cidr: '10.1.0.0/24',
    attached: false,
    pools: [{ start: '10.1.0.50', end: '10.1.0.60' }],
    router: '10.1.0.1',
  });
  const { dhcp, server } = await serve([subnet(), remote]);
  const offer = await exchange(dhcp, request(1, 1, { giaddr: '10.1.0.1', hops: 1 }), { address: '10.1.0.1', port: 67 });
  assert.equal(offer?.p.yiaddr, '10.1.0.50');
  assert.equal(offer?.p.giaddr, '10.1.0.1');
  assert.deepEqual(offer?.to, { address: '10.1.0.1', port: 67 });
  assert.equal(
    await exchange(dhcp, request(1, 2, { giaddr: '192.168.9.1' }), { address: '192.168.9.1', port: 67 }),
    undefined,
  );
  await server.close();
});

test('reservation mode answers only known hosts, with their reserved address and hostname', async () => {
  const {
    dhcp,
    server,
    backend: b,
  } = await serve([subnet({ mode: 'reservation' })], {
    hosts: { '52:54:00:00:00:07': { hostId: 'h7', state: 'ready', reservedIp: '10.0.0.77', hostname: 'node7' } },
  });
  const offer = await exchange(dhcp, request(1, 7));
  assert.equal(offer?.p.yiaddr, '10.0.0.77');
  assert.match(summarizeDhcp(offer.p), / 12="node7"/);
  assert.equal(await exchange(dhcp, request(1, 8)), undefined);
  assert.deepEqual(b.unknown, ['52:54:00:00:00:08']);
  await server.close();
});

test('proxy mode: PXE DISCOVER on 67 gets an address-less offer with boot info; REQUEST on 4011 gets an ACK to its source', async () => {
  const { dhcp, pxe, server } = await serve([subnet({ mode: 'proxy', pools: [] })]);
  const pxeOpts = [uintOption(93, 0, 2), textOption(60, 'PXEClient:Arch:00000:UNDI:002001')];
  const offer = await exchange(dhcp, request(1, 1, {}, pxeOpts));
  assert.equal(
    summarizeDhcp(offer!.p),
    'DHCPOFFER xid=0x00001001 mac=52:54:00:00:00:01 siaddr=10.0.0.1 file="undionly.kpxe" 54=10.0.0.1 66="10.0.0.1" 60="PXEClient" 43={6:08}',
  );
  const ack = await exchange(pxe, request(3, 1, { ciaddr: '10.0.0.23' }, pxeOpts), {
    address: '10.0.0.23',
    port: 4011,
  });
  assert.equal(summarizeDhcp(ack!.p).split(' ')[0], 'DHCPACK');
  assert.deepEqual(ack!.to, { address: '10.0.0.23', port: 4011 });
  assert.equal(await exchange(dhcp, request(1, 2)), undefined, 'a non-PXE client gets nothing in proxy mode');
  await server.close();
});

test('iPXE gets the HTTP script URL and 175.176=1 in full mode', async () => {
  const { dhcp, server } = await serve([subnet()]);
  const offer = await exchange(
    dhcp,
    request(1, 1, {}, [
      uintOption(93, 7, 2),
      textOption(60, 'PXEClient:Arch:00007:UNDI:003010'),
      textOption(77, 'iPXE'),
    ]),
  );
  assert.match(summarizeDhcp(offer!.p), / file="http:\/\/10.0.0.1:8080\/boot.ipxe" .* 175=\{176:01\}$/);
  await server.close();
});

test('malformed datagrams are dropped and logged at debug; a broken store loses the request, not the server', async () => {
  const { dhcp, server, log } = await serve([subnet()], { leases: createBrokenLeaseStore() });
  dhcp.inject(new Uint8Array(10), client);
  dhcp.inject(request(1, 1).subarray(0, 200), client);
  assert.equal(await exchange(dhcp, request(1, 1)), undefined);
  assert.equal(server.stats.malformed, 2);
  assert.equal(server.stats.failed, 1);
  assert.ok(log.lines.some((l) => l.level === 'debug' && l.msg === 'dhcp: malformed packet dropped'));
  await server.close();
});

/** Injects a RELEASE of `ip` from MAC `mac` and waits (bounded) until the store shows the lease ended. */
async function release(sock: MemorySocket, leases: LeaseStore, mac: number, ip: string, now = Date.now) {
  sock.inject(request(7, mac, { ciaddr: ip }, [ipOption(54, '10.0.0.1')]), client);
  for (let i = 0; i < 100 && ((await leases.getByIp(ip))?.expiresAt ?? 0) > now(); i++)
    await new Promise((r) => setTimeout(r, 2));
}

test('RELEASE frees the address for another MAC', async () => {
  const leases = createMemoryLeaseStore();
  const { dhcp, server, log } = await serve([subnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.100' }] })], {
    leases,
  });
  await exchange(dhcp, request(1, 1));
  await exchange(dhcp, request(3, 1, {}, [ipOption(50, '10.0.0.100')]));
  assert.equal(await exchange(dhcp, request(1, 2)), undefined, 'the one address is bound to MAC 1');
  await release(dhcp, leases, 1, '10.0.0.100');
  assert.ok((await leases.getByIp('10.0.0.100'))!.expiresAt <= Date.now(), 'the lease ended at the RELEASE');
  assert.ok(log.lines.some((l) => l.level === 'info' && l.msg?.startsWith('dhcp: RELEASE')));
  assert.equal((await exchange(dhcp, request(1, 2)))?.p.yiaddr, '10.0.0.100');
  assert.equal(
    summarizeDhcp((await exchange(dhcp, request(3, 2, {}, [ipOption(50, '10.0.0.100')])))!.p).split(' ')[0],
    'DHCPACK',
  );
  assert.equal((await leases.getByIp('10.0.0.100'))?.mac, '52:54:00:00:00:02');
  await server.close();
});

test("a client whose lease was released or expired is offered its previous address again, not the pool cursor's next (RFC 2131 §4.3.1)", async () => {
  // The md/LVM e2e's VM: systemd-networkd releases at shutdown; the next power-on's iPXE and the installed system
  // then came up on the next pool address. Whatever client identifier (option 61) each sends: Kiln keys by MAC.
  let t = 1_000_000;
  const leases = createMemoryLeaseStore();
  const { dhcp, server } = await serve([subnet()], { leases, now: () => t });
  /** DISCOVER (with `options`), then REQUEST of the offer (with `options` but option 50); the address ACKed. */
  const dora = async (mac: number, options: DhcpPacket['options'] = []): Promise<string | undefined> => {
    const offer = await exchange(dhcp, request(1, mac, {}, options));
    if (!offer) return undefined;
    const rest = options.filter((o) => o.code !== 50);
    const ack = await exchange(
      dhcp,
      request(3, mac, {}, [ipOption(54, '10.0.0.1'), ipOption(50, offer.p.yiaddr), ...rest]),
    );
    assert.equal(summarizeDhcp(ack!.p).split(' ')[0], 'DHCPACK');
    return ack!.p.yiaddr;
  };
  // RFC 4361 §6.1 client identifier: type 255, a 4-byte IAID, then a DUID (here DUID-UUID, RFC 6355).
  const duid = { code: 61, data: Uint8Array.of(255, 0x1b, 0x2c, 0x3d, 0x4e, 0, 4, ...new Array<number>(16).fill(7)) };
  assert.equal(await dora(1), '10.0.0.100', 'iPXE, no client identifier');
  await release(dhcp, leases, 1, '10.0.0.100', () => t);
  assert.equal(await dora(1, [duid]), '10.0.0.100', 'after its RELEASE, with a DUID client identifier');
  t += 600_000 + 1; // the lease time passes: expired, not released
  assert.equal(await dora(1), '10.0.0.100', 'after its lease expired');
  // Another MAC took the previous address (it asked for it, option 50, while free): MAC 1 gets a new one.
  await release(dhcp, leases, 1, '10.0.0.100', () => t);
  assert.equal(await dora(2, [ipOption(50, '10.0.0.100')]), '10.0.0.100');
  assert.equal(await dora(1), '10.0.0.101');
  await server.close();
});

test('DECLINE takes the address out of service only when it came from the client it was bound to (RFC 2131 §4.3.3)', async () => {
  const leases = createMemoryLeaseStore();
  const { dhcp, server } = await serve([subnet()], { leases });
  await exchange(dhcp, request(1, 1));
  await exchange(dhcp, request(3, 1, {}, [ipOption(50, '10.0.0.100')]));
  // Another MAC declines an address it was never offered: ignored, the pool keeps it free.
  dhcp.inject(request(4, 2, {}, [ipOption(50, '10.0.0.101'), ipOption(54, '10.0.0.1')]), client);
  // The holder declines its own: marked declined.
  dhcp.inject(request(4, 1, {}, [ipOption(50, '10.0.0.100'), ipOption(54, '10.0.0.1')]), client);
  for (let i = 0; i < 100 && (await leases.getByIp('10.0.0.100'))?.state !== 'declined'; i++)
    await new Promise((r) => setTimeout(r, 2));
  assert.equal((await leases.getByIp('10.0.0.100'))?.state, 'declined');
  assert.equal(await leases.getByIp('10.0.0.101'), undefined, 'a stranger cannot decline an address');
  assert.equal(
    (await exchange(dhcp, request(1, 3)))?.p.yiaddr,
    '10.0.0.101',
    'the next client gets the address the stranger declined',
  );
  await server.close();
});

/** Injects every datagram at once (one burst), then waits (bounded) until `want` replies were sent after `before`. */
async function burst(sock: MemorySocket, datagrams: Uint8Array[], want: number): Promise<DhcpPacket[]> {
  const before = sock.sent.length;
  for (const d of datagrams) sock.inject(d, client);
  for (let i = 0; i < 500 && sock.sent.length - before < want; i++) await new Promise((r) => setTimeout(r, 2));
  return sock.sent.slice(before).map((s) => decodeDhcp(s.bytes));
}

for (const [name, store] of [
  ['the lease index (addresses checked in memory)', () => createMemoryLeaseStore()],
  // A store without peekByIp: every candidate is asked of the store (an await), the path the race took.
  ['a store read for every candidate', () => ({ ...createMemoryLeaseStore(), peekByIp: undefined })],
] as const)
  test(`full mode, ${name}: DISCOVERs of a burst are offered distinct addresses, and every client that REQUESTs its offer is ACKed`, async () => {
    const leases = store();
    const { dhcp, server } = await serve([subnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.199' }] })], {
      leases,
    });
    const macs = Array.from({ length: 60 }, (_, i) => i + 1);
    const offers = await burst(
      dhcp,
      macs.map((m) => request(1, m)),
      macs.length,
    );
    assert.equal(offers.length, macs.length);
    const offered = new Map(offers.map((o) => [o.xid, o.yiaddr]));
    assert.equal(new Set(offered.values()).size, macs.length, 'no address offered twice');
    const acks = await burst(
      dhcp,
      macs.map((m) => request(3, m, {}, [ipOption(54, '10.0.0.1'), ipOption(50, offered.get(0x1000 + m)!)])),
      macs.length,
    );
    assert.deepEqual(
      acks.map((a) => summarizeDhcp(a).split(' ')[0]),
      macs.map(() => 'DHCPACK'),
      'no client is NAKed for the address it was just offered',
    );
    for (const a of acks) assert.equal(a.yiaddr, offered.get(a.xid));
    assert.equal((await leases.list()).length, macs.length);
    await server.close();
  });

test('admission: under a flood, REQUESTs are answered before DISCOVERs and the shed datagrams are counted and logged once', async () => {
  // A clock that stands still: nothing expires, so what is shed is what the queue limit sheds.
  const { dhcp, server, log } = await serve([subnet({ pools: [{ start: '10.0.0.100', end: '10.0.0.199' }] })], {
    now: () => 1_000_000,
  });
  const offer = await exchange(dhcp, request(1, 1));
  assert.equal(offer?.p.yiaddr, '10.0.0.100');
  // One turn's worth of arrivals: 5000 DISCOVERs (more than the default queue limit of 2048), then the REQUEST.
  const before = dhcp.sent.length;
  for (let m = 0; m < 5000; m++) dhcp.inject(request(1, 2 + (m % 200)), client);
  dhcp.inject(request(3, 1, {}, [ipOption(54, '10.0.0.1'), ipOption(50, '10.0.0.100')]), client);
  for (let i = 0; i < 1000 && server.queued > 0; i++) await new Promise((r) => setTimeout(r, 2));
  await server.close();
  const kinds = dhcp.sent.slice(before).map((s) => summarizeDhcp(decodeDhcp(s.bytes)).split(' ')[0]);
  // The REQUEST was handled first; its ACK waits for the group commit, so a turn's OFFERs may leave before it.
  const ackAt = kinds.indexOf('DHCPACK');
  assert.ok(
    ackAt >= 0 && ackAt < 32,
    `the ACK is among the first replies, not after the flood (at ${ackAt} of ${kinds.length})`,
  );
  assert.equal(server.stats.shed, 5001 - 2048, 'the oldest DISCOVERs past the queue limit were shed');
  assert.equal(server.stats.received, 5002);
  assert.equal(
    server.stats.received,
    server.stats.replied + server.stats.ignored + server.stats.malformed + server.stats.failed + server.stats.shed,
  );
  // Rate-limited: a line at the first shed datagram, then the counts since it at most every 10 s (here: at close).
  const lines = log.lines
    .filter((l) => l.msg?.startsWith('dhcp: overloaded'))
    .map((l) => l.obj as { shedDiscover: { full: number; expired: number }; shedRequest: { full: number } });
  assert.equal(lines.length, 2);
  assert.deepEqual(
    lines.map((l) => l.shedDiscover.full),
    [1, 2952],
  );
  assert.ok(
    lines.every((l) => l.shedDiscover.expired === 0 && l.shedRequest.full === 0),
    'no REQUEST was shed',
  );
});

test("a REQUEST for a dead member: ACKed in its name over this server's own offer of that address to another MAC, bound, counted and logged; a live one is left alone", async () => {
  const leases = createMemoryLeaseStore();
  const dead = new Map<string, DeadMember>();
  const { dhcp, server, log } = await serve([subnet()], { leases, deadMembers: () => dead });
  // This server offers .100 to MAC 1; MAC 2 took member 10.0.0.2's offer of the same .100 (each member holds its own offers).
  const offer = await exchange(dhcp, request(1, 1));
  assert.equal(offer?.p.yiaddr, '10.0.0.100');
  const selecting = request(3, 2, {}, [ipOption(50, '10.0.0.100'), ipOption(54, '10.0.0.2')]);
  assert.equal(await exchange(dhcp, selecting), undefined, 'member 10.0.0.2 is alive: its REQUEST is not ours');
  dead.set('10.0.0.2', { id: 'm2', name: 'kiln-b', why: 'stopped' });
  const ack = await exchange(dhcp, selecting);
  assert.ok(ack);
  assert.equal(
    summarizeDhcp(ack.p).split(' ').slice(0, 5).join(' '),
    `DHCPACK xid=0x00001002 mac=52:54:00:00:00:02 yiaddr=10.0.0.100 54=10.0.0.2`,
  );
  assert.equal((await leases.getByIp('10.0.0.100'))?.mac, '52:54:00:00:00:02');
  assert.equal(server.stats.takenOver, 1);
  assert.ok(
    log.lines.some((l) => l.level === 'info' && l.msg === 'dhcp: answered a REQUEST for dead member kiln-b (ACK)'),
  );
  // A foreign server named: still nobody's business here.
  assert.equal(
    await exchange(dhcp, request(3, 3, {}, [ipOption(50, '10.0.0.101'), ipOption(54, '10.0.0.9')])),
    undefined,
  );
  await server.close();
});
