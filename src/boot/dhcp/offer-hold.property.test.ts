// Property of offers (issue 17): no client that completes a DORA in time is
// ever NAKed for the address Kiln just offered it. Random interleavings of
// clients' DISCOVERs (some asking for an address with option 50), their
// REQUESTs for the last offer they got, RELEASEs, storms of DISCOVERs from
// clients that never come back, and the clock moving, against a small pool.
// "In time" means within offerHoldSeconds of the OFFER; after that the
// address may have gone to another client and a NAK is the right answer
// (RFC 2131 §4.3.2). Also: a storm of DISCOVERs from clients that have gone
// holds the pool for offerHoldSeconds only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startDhcpServer } from './dhcp-server.js';
import { createMemorySocket, type MemorySocket } from '../../net/datagram/memory-socket.js';
import { createMemoryLeaseStore } from './lease-store.js';
import { defaultDhcpConfig, type DhcpConfig } from './dhcp-config.js';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from '../../protocols/dhcp4/packet.js';
import { getMessageType, ipOption, uintOption } from '../../protocols/dhcp4/options.js';
import { DhcpMessageType } from '../../protocols/dhcp4/codes.js';

const HOLD_S = 3;
const config = (poolEnd: string): DhcpConfig => ({
  ...defaultDhcpConfig,
  enabled: true,
  serverAddress: '10.45.0.1',
  httpBase: 'http://10.45.0.1:8080',
  offerHoldSeconds: HOLD_S,
  subnets: [
    {
      cidr: '10.45.0.0/24',
      mode: 'full',
      pools: [{ start: '10.45.0.100', end: poolEnd }],
      dns: [],
      leaseSeconds: 600,
      attached: true,
    },
  ],
});

function packet(type: number, mac: number, options: DhcpPacket['options'] = [], ciaddr = '0.0.0.0'): Uint8Array {
  const chaddr = new Uint8Array(16);
  chaddr.set([0x52, 0x54, 0, 0, (mac >> 8) & 0xff, mac & 0xff]);
  return encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x7000 + mac,
    secs: 0,
    flags: 0,
    ciaddr,
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: [uintOption(53, type, 1), ...options],
  });
}

type Step =
  | { kind: 'discover'; client: number; ask?: number }
  | { kind: 'request'; client: number }
  | { kind: 'release'; client: number }
  | { kind: 'storm'; size: number; first: number }
  | { kind: 'wait'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('discover' as const), client: fc.nat(3) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('discover' as const), client: fc.nat(3), ask: fc.nat(7) }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('request' as const), client: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), client: fc.nat(3) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('storm' as const),
      size: fc.integer({ min: 1, max: 20 }),
      first: fc.nat(1000),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: HOLD_S * 1500 }) }),
  },
);

/**
 * Waits until the server has handled every datagram injected so far (bounded: 2 000 turns, then up to 2 s more
 * in 1 ms steps: a REQUEST's ACK waits for its group commit, which starts at most every groupCommitIntervalMs).
 */
async function settle(server: { stats: Record<string, number> }): Promise<void> {
  const deadline = performance.now() + 2000;
  for (let i = 0; i < 2000 || performance.now() < deadline; i++) {
    const s = server.stats;
    if (s.replied! + s.ignored! + s.failed! + s.malformed! + s.shed! >= s.received!) return;
    await new Promise((r) => (i < 2000 ? setImmediate(r) : setTimeout(r, 1)));
  }
  throw new Error('the server did not handle every datagram');
}

/** Injects `bytes` and returns the replies it caused, decoded. */
async function send(
  sock: MemorySocket,
  server: { stats: Record<string, number> },
  bytes: Uint8Array,
): Promise<DhcpPacket[]> {
  const before = sock.sent.length;
  sock.inject(bytes, { address: '0.0.0.0', port: 68 });
  await settle(server);
  return sock.sent.slice(before).map((s) => decodeDhcp(s.bytes));
}

test('property: a client that REQUESTs its last offer within offerHoldSeconds is ACKed that address, never NAKed', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(step, { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 2, max: 6 }),
      async (steps, poolSize) => {
        let t = 1_000_000;
        const sock = createMemorySocket();
        const poolEnd = `10.45.0.${100 + poolSize - 1}`;
        const server = await startDhcpServer({
          config: config(poolEnd),
          backend: { findHostByMac: async () => null },
          leases: createMemoryLeaseStore(),
          sockets: { dhcp: sock },
          now: () => t,
        });
        // Each client's last OFFER (address, time) and its bound address.
        const offered = new Map<number, { ip: string; at: number }>();
        const bound = new Map<number, string>();
        try {
          for (const s of steps) {
            if (s.kind === 'wait') t += s.ms;
            else if (s.kind === 'storm') {
              // Clients that DISCOVER once and are never heard from again.
              for (let k = 0; k < s.size; k++) await send(sock, server, packet(1, 1000 + s.first + k));
            } else if (s.kind === 'discover') {
              const ask = s.ask === undefined ? [] : [ipOption(50, `10.45.0.${100 + s.ask}`)];
              const replies = await send(sock, server, packet(1, s.client, ask));
              const offer = replies.find((p) => getMessageType(p) === DhcpMessageType.offer);
              // An exhausted pool answers nothing; the client keeps no offer from this round.
              if (offer) offered.set(s.client, { ip: offer.yiaddr, at: t });
              else offered.delete(s.client);
            } else if (s.kind === 'release') {
              const ip = bound.get(s.client);
              if (ip) await send(sock, server, packet(7, s.client, [ipOption(54, '10.45.0.1')], ip));
              bound.delete(s.client);
            } else {
              const o = offered.get(s.client);
              if (!o) continue;
              offered.delete(s.client);
              const replies = await send(
                sock,
                server,
                packet(3, s.client, [ipOption(54, '10.45.0.1'), ipOption(50, o.ip)]),
              );
              const type = replies[0] && getMessageType(replies[0]);
              if (t - o.at < HOLD_S * 1000) {
                assert.equal(
                  type,
                  DhcpMessageType.ack,
                  `client ${s.client} REQUESTed ${o.ip} ${t - o.at} ms after its OFFER`,
                );
                assert.equal(replies[0]!.yiaddr, o.ip);
              }
              if (type === DhcpMessageType.ack) bound.set(s.client, o.ip);
            }
          }
        } finally {
          await server.close();
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('a storm of DISCOVERs from clients that never REQUEST holds the pool for offerHoldSeconds only', async () => {
  let t = 1_000_000;
  const sock = createMemorySocket();
  const server = await startDhcpServer({
    config: config('10.45.0.109'),
    backend: { findHostByMac: async () => null },
    leases: createMemoryLeaseStore(),
    sockets: { dhcp: sock },
    now: () => t,
  });
  try {
    let offers = 0;
    for (let k = 0; k < 200; k++)
      offers += (await send(sock, server, packet(1, 2000 + k))).filter(
        (p) => getMessageType(p) === DhcpMessageType.offer,
      ).length;
    assert.equal(offers, 10, 'the 10-address pool was all offered, then exhausted by holds');
    assert.equal((await send(sock, server, packet(1, 1))).length, 0, 'a real client now finds no address');
    t += HOLD_S * 1000 + 1;
    const [offer] = await send(sock, server, packet(1, 1));
    assert.equal(
      offer && getMessageType(offer),
      DhcpMessageType.offer,
      'the holds lapsed: the real client is offered one',
    );
    const [ack] = await send(sock, server, packet(3, 1, [ipOption(54, '10.45.0.1'), ipOption(50, offer!.yiaddr)]));
    assert.equal(ack && getMessageType(ack), DhcpMessageType.ack);
  } finally {
    await server.close();
  }
});
