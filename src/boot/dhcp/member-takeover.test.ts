// Which members are dead, whether a REQUEST names one, and decideDhcp's answer
// in a dead member's place (member-takeover.ts). Each case names its branch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DhcpMessageType, DhcpOption } from '../../protocols/dhcp4/codes.js';
import { getIpOption, ipOption, textOption, uintOption } from '../../protocols/dhcp4/options.js';
import type { DhcpPacket } from '../../protocols/dhcp4/packet.js';
import { summarizeDhcp } from '../../protocols/dhcp4/summarize.js';
import { defaultBootFiles } from '../boot-decision.js';
import type { DhcpSubnet } from './dhcp-config.js';
import { decideDhcp, type DhcpDecision } from './decide-dhcp.js';
import {
  deadMembersByServerId,
  SESSION_GONE_MS,
  serverIdsOf,
  takeoverOf,
  type DeadMember,
  type DhcpMember,
} from './member-takeover.js';

const NOW = Date.parse('2026-12-07T10:00:00Z');
const STALE_MS = 10_000;
const SELF = 'self';
/** Member rows: A and B are other members, `self` is the one deciding. */
const row = (id: string, serverIds: string[], o: Partial<DhcpMember> = {}): DhcpMember => ({
  id,
  name: `kiln-${id}`,
  serverIds,
  lastSeen: NOW - 1000,
  stopped: false,
  absentMs: 0,
  ...o,
});
const dead = (members: DhcpMember[], own = ['10.0.0.3']) =>
  Object.fromEntries(
    [...deadMembersByServerId(members, { self: SELF, ownServerIds: own, now: NOW, staleMs: STALE_MS })].map(
      ([ip, m]) => [ip, m.id],
    ),
  );

const deadCases: Array<{ name: string; members: DhcpMember[]; own?: string[]; want: Record<string, string> }> = [
  {
    name: 'a member with a fresh heartbeat and its session open is alive',
    members: [row('a', ['10.0.0.1'])],
    want: {},
  },
  {
    name: 'its session open but its heartbeat late (a busy main thread in a storm): alive',
    members: [row('a', ['10.0.0.1'], { lastSeen: NOW - STALE_MS * 10 })],
    want: {},
  },
  {
    name: 'sessions not visible: a heartbeat older than cluster.staleSeconds is dead',
    members: [row('a', ['10.0.0.1'], { lastSeen: NOW - STALE_MS - 1, absentMs: undefined })],
    want: { '10.0.0.1': 'a' },
  },
  {
    name: 'sessions not visible: a heartbeat exactly at the bound is still alive',
    members: [row('a', ['10.0.0.1'], { lastSeen: NOW - STALE_MS, absentMs: undefined })],
    want: {},
  },
  {
    name: 'a clean stop: dead at once',
    members: [row('a', ['10.0.0.1'], { stopped: true })],
    want: { '10.0.0.1': 'a' },
  },
  {
    name: 'its DHCP session gone for SESSION_GONE_MS: dead (kill -9), whatever the heartbeat',
    members: [row('a', ['10.0.0.1'], { absentMs: SESSION_GONE_MS })],
    want: { '10.0.0.1': 'a' },
  },
  {
    name: 'its session gone for less: not yet (a reconnection in progress)',
    members: [row('a', ['10.0.0.1'], { absentMs: SESSION_GONE_MS - 1 })],
    want: {},
  },
  {
    name: 'a dead row whose address a live member answers with (restarted on the same address): not taken over',
    members: [row('old', ['10.0.0.1'], { stopped: true }), row('new', ['10.0.0.1'])],
    want: {},
  },
  {
    name: "this member's own old row, or an address this member serves: never",
    members: [row('gone', ['10.0.0.3'], { stopped: true }), row(SELF, ['10.0.0.9'], { absentMs: 99_999 })],
    want: {},
  },
  {
    name: 'each address of a dead member with two subnets; a live member is left out',
    members: [row('a', ['10.0.0.1', '10.1.0.1'], { stopped: true }), row('b', ['10.0.0.2'])],
    want: { '10.0.0.1': 'a', '10.1.0.1': 'a' },
  },
  { name: 'a member that serves no DHCP: nothing', members: [row('a', [], { stopped: true })], want: {} },
];
for (const c of deadCases)
  test(`deadMembersByServerId: ${c.name}`, () => assert.deepEqual(dead(c.members, c.own), c.want));

const DEAD = '10.0.0.1';
const LIVE_SELF = '10.0.0.3';
const MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x00, 0x00, 0x09);
const deadMap = new Map<string, DeadMember>([[DEAD, { id: 'a', name: 'kiln-a', why: 'stopped' }]]);

/** A DHCPREQUEST as iPXE sends it in SELECTING (RFC 2131 §4.3.2: 54 and 50 filled in, ciaddr 0), broadcast. */
function request(o: { serverId?: string; requested?: string; ciaddr?: string; ipxe?: boolean } = {}): DhcpPacket {
  const options = [uintOption(DhcpOption.messageType, DhcpMessageType.request, 1)];
  if (o.serverId !== undefined) options.push(ipOption(DhcpOption.serverIdentifier, o.serverId)); // 54
  if (o.requested !== undefined) options.push(ipOption(DhcpOption.requestedIpAddress, o.requested)); // 50
  options.push(
    uintOption(DhcpOption.clientSystemArchitecture, 0, 2), // 93: x86 BIOS
    textOption(DhcpOption.vendorClassIdentifier, 'PXEClient:Arch:00000:UNDI:002001'), // 60
  );
  if (o.ipxe) options.push(textOption(DhcpOption.userClass, 'iPXE')); // 77
  const chaddr = new Uint8Array(16);
  chaddr.set(MAC);
  return {
    op: 1, // BOOTREQUEST
    htype: 1, // Ethernet
    hlen: 6,
    hops: 0,
    xid: 0x1234abcd,
    secs: 0,
    flags: 0,
    ciaddr: o.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options,
  };
}

const takeoverCases: Array<{ name: string; req: DhcpPacket; want: string | undefined }> = [
  {
    name: 'SELECTING naming a dead member: taken over',
    req: request({ serverId: DEAD, requested: '10.0.0.50' }),
    want: 'a',
  },
  {
    name: 'SELECTING naming a server that is no member (a foreign DHCP server): left alone',
    req: request({ serverId: '10.0.0.77', requested: '10.0.0.50' }),
    want: undefined,
  },
  {
    name: 'option 54 without option 50: not SELECTING, left alone',
    req: request({ serverId: DEAD }),
    want: undefined,
  },
  {
    name: 'option 54 with ciaddr set: not SELECTING (ciaddr MUST be 0), left alone',
    req: request({ serverId: DEAD, requested: '10.0.0.50', ciaddr: '10.0.0.50' }),
    want: undefined,
  },
  { name: 'REBINDING (no 54, ciaddr set): not a takeover', req: request({ ciaddr: '10.0.0.50' }), want: undefined },
];
for (const c of takeoverCases)
  test(`takeoverOf: ${c.name}`, () => assert.equal(takeoverOf(c.req, deadMap)?.member.id, c.want));

test('takeoverOf: no dead members, no takeover', () => {
  assert.equal(takeoverOf(request({ serverId: DEAD, requested: '10.0.0.50' }), new Map()), undefined);
  assert.equal(takeoverOf(request({ serverId: DEAD, requested: '10.0.0.50' }), undefined), undefined);
});

test('serverIdsOf: one per full or reservation subnet (its own address, else dhcp.serverAddress); none when DHCP is off', () => {
  const s = (mode: DhcpSubnet['mode'], serverAddress?: string): DhcpSubnet => ({
    cidr: '10.0.0.0/24',
    mode,
    pools: [],
    dns: [],
    leaseSeconds: 600,
    attached: true,
    ...(serverAddress ? { serverAddress } : {}),
  });
  const subnets = [s('full'), s('reservation', '10.1.0.1'), s('proxy', '10.2.0.1'), s('full'), s('off', '10.3.0.1')];
  assert.deepEqual(serverIdsOf({ enabled: true, serverAddress: '10.0.0.1', subnets }), ['10.0.0.1', '10.1.0.1']);
  assert.deepEqual(serverIdsOf({ enabled: false, serverAddress: '10.0.0.1', subnets }), []);
});

const subnet: DhcpSubnet = {
  cidr: '10.0.0.0/24',
  mode: 'full',
  pools: [{ start: '10.0.0.50', end: '10.0.0.99' }],
  dns: [],
  leaseSeconds: 600,
  attached: true,
};
/** decideDhcp on member `self` (10.0.0.3), the allocator having picked `address` for the MAC. */
function decideAsSelf(req: DhcpPacket, address: string | undefined, deadMembers = deadMap): DhcpDecision {
  return decideDhcp({
    request: req,
    messageType: DhcpMessageType.request,
    port: 'dhcp',
    from: { address: '0.0.0.0', port: 68 },
    subnet,
    serverAddress: LIVE_SELF,
    httpBase: `http://${LIVE_SELF}:8080`,
    bootFiles: defaultBootFiles,
    address,
    knownHost: false,
    deadMembers,
  });
}
const shape = (d: DhcpDecision): string => {
  assert.ok(d.action === 'reply', d.action === 'ignore' ? d.reason : '');
  return summarizeDhcp(d.packet).replace(/ xid=0x[0-9a-f]{8} mac=[0-9a-f:]{17}/, '');
};

test('decideDhcp for a dead member: the ACK carries its 54 (what the client asked for); siaddr, 66 and the file name this member; the lease is bound', () => {
  const d = decideAsSelf(request({ serverId: DEAD, requested: '10.0.0.50' }), '10.0.0.50');
  assert.equal(
    shape(d),
    `DHCPACK yiaddr=10.0.0.50 siaddr=${LIVE_SELF} file="undionly.kpxe" 54=${DEAD} 51=600 1=255.255.255.0 58=300 59=525 66="${LIVE_SELF}" 60="PXEClient" 43={6:08}`,
  );
  assert.ok(d.action === 'reply');
  assert.deepEqual(d.bind, { ip: '10.0.0.50', leaseSeconds: 600 });
  assert.equal(d.takeover?.id, 'a');
});

test("decideDhcp for a dead member, iPXE: the boot script is this member's", () => {
  const d = decideAsSelf(request({ serverId: DEAD, requested: '10.0.0.50', ipxe: true }), '10.0.0.50');
  assert.ok(d.action === 'reply');
  assert.equal(d.packet.file, `http://${LIVE_SELF}:8080/boot.ipxe`);
  assert.equal(getIpOption(d.packet, DhcpOption.serverIdentifier), DEAD);
});

test('decideDhcp for a dead member: an address not free for this MAC (the lease rules chose none) gets a NAK naming the dead member', () => {
  // EDK2 takes a NAK only from the server it asked (Dhcp4Io.c DhcpHandleRequest) and then starts over at DISCOVER.
  const d = decideAsSelf(request({ serverId: DEAD, requested: '10.0.0.50' }), undefined);
  assert.equal(shape(d), `DHCPNAK 54=${DEAD}`);
  assert.ok(d.action === 'reply');
  assert.equal(d.bind, undefined);
  assert.equal(d.takeover?.id, 'a');
});

test('decideDhcp: a REQUEST naming a live member or a foreign server is ignored as before (RFC 2131 §4.3.2)', () => {
  const live = decideAsSelf(request({ serverId: '10.0.0.2', requested: '10.0.0.50' }), '10.0.0.50');
  assert.deepEqual(live, { action: 'ignore', reason: 'client selected server 10.0.0.2' });
  const none = decideAsSelf(request({ serverId: DEAD, requested: '10.0.0.50' }), '10.0.0.50', new Map());
  assert.deepEqual(none, { action: 'ignore', reason: `client selected server ${DEAD}` });
});

test("decideDhcp: a REQUEST naming this member is answered with this member's 54 and no takeover", () => {
  const d = decideAsSelf(request({ serverId: LIVE_SELF, requested: '10.0.0.50' }), '10.0.0.50');
  assert.ok(d.action === 'reply');
  assert.equal(getIpOption(d.packet, DhcpOption.serverIdentifier), LIVE_SELF);
  assert.equal(d.takeover, undefined);
});
