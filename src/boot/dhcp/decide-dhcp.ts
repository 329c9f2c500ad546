import { BootpOp, DhcpMessageType, DhcpOption } from '../../protocols/dhcp4/codes.js';
import {
  findOption,
  getClientArchs,
  getIpOption,
  getUserClasses,
  getVendorClass,
  ipOption,
  textOption,
  uintOption,
} from '../../protocols/dhcp4/options.js';
import { type DhcpPacket, type DhcpRawOption } from '../../protocols/dhcp4/packet.js';
import { decideBoot, type BootChoice, type BootFiles } from '../boot-decision.js';
import type { DhcpSubnet } from './dhcp-config.js';
import type { UdpPeer } from '../../net/datagram/datagram-socket.js';
import { maskOf } from './subnet-math.js';
import { takeoverOf, type DeadMember } from './member-takeover.js';

/** Everything the decision needs about one request; the server gathers it (lookups are async, the decision is not). */
export interface DhcpRequestContext {
  request: DhcpPacket;
  messageType: number;
  /** Which socket it arrived on: the DHCP port 67 or the PXE boot-server port 4011. */
  port: 'dhcp' | 'pxe';
  from: UdpPeer;
  subnet: DhcpSubnet;
  serverAddress: string;
  httpBase: string;
  bootFiles: BootFiles;
  /** The address the allocator picked for this MAC (reservation or pool); undefined when none. */
  address: string | undefined;
  /** True when the MAC is a host Kiln knows. */
  knownHost: boolean;
  hostname?: string | undefined;
  /** This controller receives syslog on port 514: offer it as the log server (option 7) with an address. */
  logServer?: boolean | undefined;
  /** Dead members of this store by DHCP server identifier (member-takeover.ts): their SELECTING REQUESTs are answered here. */
  deadMembers?: ReadonlyMap<string, DeadMember> | undefined;
}

/** A reply to send, and the lease to make durable before sending it (ACK only after commit); `takeover`: sent for that dead member. */
export type DhcpDecision =
  | {
      action: 'reply';
      packet: DhcpPacket;
      to: UdpPeer;
      bind?: { ip: string; leaseSeconds: number };
      takeover?: DeadMember;
    }
  | { action: 'ignore'; reason: string };

const ZERO = '0.0.0.0';
const ignore = (reason: string): DhcpDecision => ({ action: 'ignore', reason });

/** The request's boot identity as `decideBoot` reads it. */
export function bootChoiceFor(ctx: Pick<DhcpRequestContext, 'request' | 'httpBase' | 'bootFiles'>): BootChoice {
  const r = ctx.request;
  return decideBoot(
    { archs: getClientArchs(r), vendorClass: getVendorClass(r), userClasses: getUserClasses(r) },
    { httpBase: ctx.httpBase, files: ctx.bootFiles },
  );
}

/**
 * Decides the answer to one request. Pure. Modes: `proxy` answers only
 * network-boot clients with boot information and no address (PXE spec 2.1
 * §2.2.5); `reservation` and `full` hand out `ctx.address`. DECLINE and
 * RELEASE never get a reply (RFC 2131 §4.3.3, §4.3.4); the server acts on them.
 */
export function decideDhcp(ctx: DhcpRequestContext): DhcpDecision {
  const t = ctx.messageType;
  if (ctx.request.op !== BootpOp.request) return ignore('not a BOOTREQUEST');
  if (ctx.subnet.mode === 'off') return ignore('subnet mode is off');
  if (ctx.subnet.mode === 'proxy') return decideProxy(ctx);
  if (ctx.port === 'pxe') return ignore('port 4011 is only served in proxy mode');
  if (t === DhcpMessageType.inform) return reply(ctx, DhcpMessageType.ack, ZERO);
  if (t !== DhcpMessageType.discover && t !== DhcpMessageType.request)
    return ignore(`message type ${t} needs no reply`);
  if (ctx.subnet.mode === 'reservation' && !ctx.knownHost) return ignore('reservation mode: unknown MAC');
  if (t === DhcpMessageType.discover) {
    if (!ctx.address)
      return ignore(
        ctx.subnet.mode === 'reservation'
          ? 'reservation mode: host has no reserved address in this subnet'
          : 'pool exhausted',
      );
    return reply(ctx, DhcpMessageType.offer, ctx.address);
  }
  return decideRequest(ctx);
}

function decideRequest(ctx: DhcpRequestContext): DhcpDecision {
  const r = ctx.request;
  const serverId = getIpOption(r, DhcpOption.serverIdentifier);
  const takeover =
    serverId !== undefined && serverId !== ctx.serverAddress ? takeoverOf(r, ctx.deadMembers) : undefined;
  // RFC 2131 §4.3.2 SELECTING: a REQUEST naming another server means the client took its offer (unless that server
  // is a dead member of this store: member-takeover.ts).
  if (serverId !== undefined && serverId !== ctx.serverAddress && !takeover)
    return ignore(`client selected server ${serverId}`);
  const wanted = getIpOption(r, DhcpOption.requestedIpAddress) ?? (r.ciaddr !== ZERO ? r.ciaddr : undefined);
  if (!wanted) return ignore('REQUEST without requested address or ciaddr');
  // For a dead member, option 54 is the one the client asked for: iPXE drops an ACK whose 54 is not its offer's
  // (src/net/udp/dhcp.c, dhcp_request_rx) and EDK2 an ACK or NAK (Dhcp4Dxe/Dhcp4Io.c, DhcpHandleRequest). siaddr,
  // option 66, the file's URL and option 7 name this member, which serves the next stage.
  const id = takeover?.serverId ?? ctx.serverAddress;
  const as = takeover ? { takeover: takeover.member } : {};
  // RFC 2131 §4.3.2 INIT-REBOOT/RENEWING: a wrong address MUST get a DHCPNAK. SELECTING: the address the (dead) member
  // offered is given only when it is free, expired or already this MAC's, as the lease table decides at commit.
  if (wanted !== ctx.address) return { ...(reply(ctx, DhcpMessageType.nak, ZERO, id) as Replied), ...as };
  return {
    ...(reply(ctx, DhcpMessageType.ack, wanted, id) as Replied),
    bind: { ip: wanted, leaseSeconds: ctx.subnet.leaseSeconds },
    ...as,
  };
}

type Replied = Extract<DhcpDecision, { action: 'reply' }>;

function decideProxy(ctx: DhcpRequestContext): DhcpDecision {
  const boot = bootChoiceFor(ctx);
  if (boot.kind === 'none') return ignore(`proxy: ${boot.reason}`);
  // PXE spec 2.1 §2.2.5: a ProxyDHCP server answers DISCOVER on 67 with an offer
  // carrying no address, and a REQUEST on 4011 with an ACK; address requests are the site server's.
  if (ctx.port === 'dhcp' && ctx.messageType === DhcpMessageType.discover)
    return proxyReply(ctx, boot, DhcpMessageType.offer);
  if (ctx.port === 'pxe' && ctx.messageType === DhcpMessageType.request)
    return proxyReply(ctx, boot, DhcpMessageType.ack);
  return ignore('proxy: the site DHCP server answers this');
}

/**
 * A ProxyDHCP offer (port 67) or boot-server ACK (port 4011): no address, only
 * where to boot from (PXE spec 2.1 §2.2.5 and table 2-1; RFC 2131 §4.3.1 for
 * the header). What each firmware needs of it, read from its source:
 * - 60 "PXEClient" (or "HTTPClient" for UEFI HTTP boot): without it iPXE and
 *   EDK2 treat an address-less offer as nothing at all.
 * - siaddr, never 0: iPXE takes the offer as complete only with siaddr and a
 *   file (`dhcp_has_pxeopts`), else it sends a ProxyDHCP REQUEST to 4011 and
 *   drops an answer that lacks them too; EDK2 loads the file from siaddr and
 *   sends its port-4011 REQUEST there.
 * - 54: iPXE and EDK2 key the ProxyDHCP server by it.
 * - 97 echoed when the client sent a well-formed one (PXE spec table 2-1).
 * - 43 per firmware kind (`BootChoice.proxyOptions`).
 * sname stays empty; option 66 names the TFTP server for ROMs that want a name.
 */
function proxyReply(ctx: DhcpRequestContext, boot: Exclude<BootChoice, { kind: 'none' }>, type: number): DhcpDecision {
  const r = ctx.request;
  const packet: DhcpPacket = {
    op: BootpOp.reply,
    htype: r.htype,
    hlen: r.hlen,
    hops: 0,
    xid: r.xid,
    secs: 0,
    flags: r.flags,
    ciaddr: type === DhcpMessageType.ack ? r.ciaddr : ZERO,
    yiaddr: ZERO,
    siaddr: ctx.serverAddress,
    giaddr: r.giaddr,
    chaddr: r.chaddr,
    sname: '',
    file: boot.file,
    options: [messageTypeOption(type), addressOption(DhcpOption.serverIdentifier, ctx.serverAddress)],
  };
  if (boot.tftp) packet.options.push(textOption(DhcpOption.tftpServerName, ctx.serverAddress));
  packet.options.push(...boot.proxyOptions);
  const guid = findOption(r, DhcpOption.clientMachineId);
  // RFC 4578 §2.3: type 0 then a 16-byte GUID; anything else is not echoed.
  if (guid && guid.length === 17 && guid[0] === 0)
    packet.options.push({ code: DhcpOption.clientMachineId, data: guid.slice() });
  return { action: 'reply', packet, to: destination(ctx, false) };
}

/** A reply from this member; `serverId` is its option 54 (this member's address unless answering for a dead one). */
function reply(ctx: DhcpRequestContext, type: number, yiaddr: string, serverId = ctx.serverAddress): DhcpDecision {
  const r = ctx.request;
  const nak = type === DhcpMessageType.nak;
  const packet: DhcpPacket = {
    op: BootpOp.reply,
    htype: r.htype,
    hlen: r.hlen,
    hops: 0,
    xid: r.xid,
    secs: 0,
    // RFC 2131 §4.3.1 table 3: flags copied from the request; ciaddr copied only for INFORM/renew ACKs.
    flags: r.flags,
    ciaddr: type === DhcpMessageType.ack ? r.ciaddr : ZERO,
    yiaddr,
    siaddr: ZERO,
    giaddr: r.giaddr,
    chaddr: r.chaddr,
    sname: '',
    file: '',
    options: [messageTypeOption(type), addressOption(DhcpOption.serverIdentifier, serverId)],
  };
  if (nak) return { action: 'reply', packet, to: destination(ctx, true) };
  if (yiaddr !== ZERO) addressOptions(ctx, packet.options);
  const boot = bootChoiceFor(ctx);
  if (boot.kind !== 'none') {
    packet.file = boot.file;
    if (boot.tftp) {
      packet.siaddr = ctx.serverAddress; // RFC 2131 §2: siaddr is the next server (TFTP) in the boot process
      // RFC 2132 §9.4: option 66 is the TFTP server *name* (text); some PXE ROMs prefer it to siaddr.
      packet.options.push(textOption(DhcpOption.tftpServerName, ctx.serverAddress));
    }
    packet.options.push(...boot.options);
  }
  return { action: 'reply', packet, to: destination(ctx, false) };
}

/**
 * Reply options that are the same for every reply, built once: option 53 per
 * message type, and per address (54 and 7 name this controller), and the
 * options of `addressOptions` that depend only on the subnet (per subnet
 * object: config is immutable, and a new config brings new objects). Replies
 * share these objects; nothing changes an option once built.
 */
const messageTypeOptions = new Map<number, DhcpRawOption>();
function messageTypeOption(type: number): DhcpRawOption {
  let o = messageTypeOptions.get(type);
  if (!o) messageTypeOptions.set(type, (o = uintOption(DhcpOption.messageType, type, 1)));
  return o;
}
/** Keyed by option code and address; config holds a handful of addresses, so the bound is never reached in practice. */
const addressOptionCache = new Map<string, DhcpRawOption>();
function addressOption(code: number, address: string): DhcpRawOption {
  const key = `${code} ${address}`;
  let o = addressOptionCache.get(key);
  if (!o) {
    if (addressOptionCache.size >= 1024) addressOptionCache.clear();
    addressOptionCache.set(key, (o = ipOption(code, address)));
  }
  return o;
}
const subnetOptionCache = new WeakMap<DhcpSubnet, readonly DhcpRawOption[]>();

/** The options of `addressOptions` that depend only on the subnet, in order. */
function subnetOptions(s: DhcpSubnet): readonly DhcpRawOption[] {
  let out = subnetOptionCache.get(s);
  if (out) return out;
  const list = [uintOption(DhcpOption.leaseTime, s.leaseSeconds, 4), ipOption(DhcpOption.subnetMask, maskOf(s.cidr))];
  // RFC 2131 §4.4.5 defaults: T1 = 0.5 × lease, T2 = 0.875 × lease.
  list.push(
    uintOption(DhcpOption.renewalTime, Math.floor(s.leaseSeconds / 2), 4),
    uintOption(DhcpOption.rebindingTime, Math.floor(s.leaseSeconds * 0.875), 4),
  );
  if (s.router) list.push(ipOption(DhcpOption.router, s.router));
  if (s.dns.length) list.push(ipOption(DhcpOption.domainNameServer, ...s.dns));
  if (s.domainName) list.push(textOption(DhcpOption.domainName, s.domainName));
  if (s.ntp?.length) list.push(ipOption(DhcpOption.ntpServers, ...s.ntp));
  if (s.mtu !== undefined) list.push(uintOption(DhcpOption.interfaceMtu, s.mtu, 2));
  subnetOptionCache.set(s, (out = list));
  return out;
}

/** Appends the options of a reply that hands out an address to `out`. */
function addressOptions(ctx: DhcpRequestContext, out: DhcpRawOption[]): void {
  for (const o of subnetOptions(ctx.subnet)) out.push(o);
  // RFC 2132 §3.9: option 7, "a list of MIT-LCS UDP log servers", which busybox udhcpc (logsrv) and
  // syslog clients read as syslog on UDP 514. Only with an address: a proxy reply configures no network,
  // and clients take their log server from the DHCP server that gave them their address.
  if (ctx.logServer) out.push(addressOption(DhcpOption.logServer, ctx.serverAddress));
  if (ctx.hostname) out.push(textOption(DhcpOption.hostName, ctx.hostname));
}

/**
 * Where the reply goes (RFC 2131 §4.1): to the relay on port 67 when giaddr
 * is set; to ciaddr when the client has an address (not for NAK); broadcast
 * when the broadcast bit is set. Otherwise the RFC asks for unicast to yiaddr
 * at the client's MAC, which needs an ARP entry Node cannot write; the RFC
 * allows broadcast instead ("MAY"), which every client accepts. PXE 4011
 * requests are answered to their source (PXE spec 2.1 §2.2.5).
 */
export function destination(ctx: Pick<DhcpRequestContext, 'request' | 'port' | 'from'>, nak: boolean): UdpPeer {
  const r = ctx.request;
  if (ctx.port === 'pxe') return ctx.from;
  if (r.giaddr !== ZERO) return { address: r.giaddr, port: 67 };
  if (!nak && r.ciaddr !== ZERO) return { address: r.ciaddr, port: 68 };
  return { address: '255.255.255.255', port: 68 };
}
