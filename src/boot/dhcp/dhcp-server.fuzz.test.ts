// Property test of the DHCP server (not only its decoder): random, truncated and
// bit-flipped datagrams on port 67 and 4011, across full, proxy and reservation
// subnets and relayed requests. Whatever arrives, the server must not throw,
// leave an unhandled rejection, or send a reply its own codec cannot read, and
// it must still answer a well-formed DISCOVER afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startDhcpServer } from './dhcp-server.js';
import { createMemorySocket } from '../../net/datagram/memory-socket.js';
import { createMemoryLeaseStore } from './lease-store.js';
import { defaultDhcpConfig, type DhcpSubnet } from './dhcp-config.js';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from '../../protocols/dhcp4/packet.js';
import { ipOption, textOption, uintOption } from '../../protocols/dhcp4/options.js';
import { createMemoryLogger } from '../../log/logger.js';

const subnets: DhcpSubnet[] = [
  {
    cidr: '10.0.0.0/24',
    mode: 'full',
    pools: [{ start: '10.0.0.100', end: '10.0.0.199' }],
    router: '10.0.0.1',
    dns: ['10.0.0.1'],
    leaseSeconds: 600,
    attached: true,
  },
  {
    cidr: '10.9.0.0/24',
    mode: 'reservation',
    pools: [],
    router: '10.9.0.1',
    dns: [],
    leaseSeconds: 600,
    attached: false,
  },
  { cidr: '10.8.0.0/24', mode: 'proxy', pools: [], dns: [], leaseSeconds: 600, attached: false },
];

/** Well-formed requests the mutations start from: plain, PXE, iPXE, HTTP boot, relayed with option 82, RELEASE, DECLINE. */
function seed(i: number, type: number, mac: number): Uint8Array {
  const chaddr = new Uint8Array(16);
  chaddr.set([0x52, 0x54, 0, 0, 0, mac & 0xff]);
  const giaddr = ['0.0.0.0', '10.9.0.1', '10.8.0.1'][i % 3];
  const options: DhcpPacket['options'] = [uintOption(53, type, 1)];
  if (i % 2 === 0)
    options.push(
      uintOption(93, [0, 7, 16, 11][i % 4], 2),
      textOption(60, i % 4 === 2 ? 'HTTPClient:Arch:00016' : 'PXEClient:Arch:00007:UNDI:003016'),
    );
  if (i % 5 === 0) options.push(textOption(77, 'iPXE'));
  if (i % 3 === 1) options.push({ code: 82, data: Uint8Array.of(1, 4, 0, 1, 0, 2, 2, 3, 1, 2, 3) });
  if (type === 3 || type === 4) options.push(ipOption(50, '10.0.0.101'), ipOption(54, '10.0.0.1'));
  options.push({ code: 97, data: Uint8Array.of(0, ...Array.from({ length: 16 }, (_, k) => k)) });
  return encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: giaddr === '0.0.0.0' ? 0 : 1,
    xid: 0x4000 + i,
    secs: 0,
    flags: i & 1 ? 0x8000 : 0,
    ciaddr: type === 7 ? '10.0.0.101' : '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr,
    chaddr,
    sname: '',
    file: '',
    options,
  });
}

// Seed MACs 00..2f: the final check's MAC (:31) never starts an exchange it could then DECLINE.
const seedArb = fc.tuple(fc.nat(29), fc.constantFrom(1, 3, 4, 7, 8), fc.nat(47)).map(([i, t, m]) => seed(i, t, m));
/** One hostile datagram: random bytes, a truncated request, or a request with a few bytes overwritten. */
const datagram = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 700 }),
  fc.tuple(seedArb, fc.nat(700)).map(([b, cut]) => b.subarray(0, cut)),
  fc
    .tuple(seedArb, fc.array(fc.tuple(fc.nat(10_000), fc.nat(255)), { minLength: 1, maxLength: 8 }))
    .map(([b, flips]) => {
      const out = b.slice();
      for (const [at, x] of flips) out[at % out.length] = x;
      return out;
    }),
);

/** Waits (bounded: each handler is a few awaits on in-memory stores) until every received datagram has an outcome. */
async function settle(stats: {
  received: number;
  replied: number;
  ignored: number;
  malformed: number;
  failed: number;
  shed: number;
}): Promise<void> {
  // 500 turns, then up to 2 s in 1 ms steps: an ACK waits for its group commit (groupCommitIntervalMs).
  const deadline = performance.now() + 2000;
  for (
    let i = 0;
    (i < 500 || performance.now() < deadline) &&
    stats.received !== stats.replied + stats.ignored + stats.malformed + stats.failed + stats.shed;
    i++
  )
    await new Promise((r) => (i < 500 ? setImmediate(r) : setTimeout(r, 1)));
}

test('fuzz: hostile datagrams on 67 and 4011 never crash the server, every reply decodes, and a DISCOVER is still answered', async () => {
  const rejections: unknown[] = [];
  const onRejection = (err: unknown) => {
    rejections.push(err);
  };
  process.on('unhandledRejection', onRejection);
  const dhcp = createMemorySocket();
  const pxe = createMemorySocket();
  const log = createMemoryLogger();
  const server = await startDhcpServer({
    config: {
      ...defaultDhcpConfig,
      enabled: true,
      serverAddress: '10.0.0.1',
      httpBase: 'http://10.0.0.1:8080',
      subnets,
    },
    backend: {
      // Every fourth MAC is known with a reservation in the reservation subnet; :31 (the final check) is reserved
      // outside the pool, so an exhausted pool cannot hide a server that stopped answering.
      findHostByMac: async (mac) =>
        mac.endsWith(':31')
          ? { hostId: 'h-31', state: 'ready', reservedIp: '10.0.0.50' }
          : Number.parseInt(mac.slice(-2), 16) % 4 === 0
            ? { hostId: `h-${mac}`, state: 'ready', reservedIp: '10.9.0.50', hostname: 'n1' }
            : null,
      onUnknownMac: () => {},
    },
    leases: createMemoryLeaseStore(),
    log,
    sockets: { dhcp, pxe },
  });
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(datagram, fc.boolean(), fc.nat(3)), { minLength: 1, maxLength: 20 }),
        async (batch) => {
          for (const [bytes, toPxe, src] of batch)
            (toPxe ? pxe : dhcp).inject(bytes, {
              address: ['0.0.0.0', '10.9.0.1', '10.8.0.1', '10.0.0.77'][src],
              port: src === 0 ? 68 : 67,
            });
          await settle(server.stats);
        },
      ),
      { numRuns: 300 },
    );
    assert.equal(
      server.stats.received,
      server.stats.replied + server.stats.ignored + server.stats.malformed + server.stats.failed + server.stats.shed,
      'every datagram is accounted for',
    );
    assert.ok(
      server.stats.malformed > 0 && server.stats.replied > 0,
      `the corpus reached both the decoder errors and the reply path: ${JSON.stringify(server.stats)}`,
    );
    assert.equal(server.stats.failed, 0, 'no request failed inside the server (store and backend are healthy here)');
    for (const s of [...dhcp.sent, ...pxe.sent])
      assert.doesNotThrow(() => decodeDhcp(s.bytes), 'the server only sends packets its codec reads back');
    assert.ok(!log.lines.some((l) => l.msg === 'dhcp: handler bug'), 'no handler bug was logged');

    const before = dhcp.sent.length;
    dhcp.inject(seed(0, 1, 0x31), { address: '0.0.0.0', port: 68 });
    for (let i = 0; i < 500 && dhcp.sent.length === before; i++) await new Promise((r) => setImmediate(r));
    const offer = dhcp.sent[before];
    assert.ok(offer, `the server still answers a DISCOVER: ${JSON.stringify(log.lines.slice(-3))}`);
    const reply = decodeDhcp(offer.bytes);
    assert.equal(reply.options.find((o) => o.code === 53)?.data[0], 2, 'and the answer is an OFFER');
    assert.equal(reply.yiaddr, '10.0.0.50');
  } finally {
    await server.close();
    process.off('unhandledRejection', onRejection);
  }
  assert.deepEqual(rejections, []);
});
