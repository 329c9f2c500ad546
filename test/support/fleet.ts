// Test and bench support: a fleet of simulated machines that network-boot
// from a storm bed (test/support/storm-bed.ts) the way their firmware and
// then iPXE do it, each step against Kiln's real servers. Three firmware kinds:
//   bios      PXE DHCP (arch 0) → TFTP undionly.kpxe (blksize 1468)
//   uefi-pxe  PXE DHCP (arch 7) → TFTP ipxe.efi: a tsize probe aborted with ERROR 8,
//             then the read with blksize 1468 and windowsize 4 (what OVMF sends)
//   uefi-http DHCP with option 60 HTTPClient (arch 16) → HEAD + GET http://…/ipxe.efi
//             (UEFI 2.10 §24.7: an HTTP boot client asks the size first)
// then, for all three: iPXE DHCP (77 = iPXE, 93 = the build's arch)
//   → GET /boot.ipxe → GET the per-host script (arch and platform as iPXE fills them in)
//   → GET the discovery kernel and initrd it names (optional) → POST the discovery report.
// Timers follow firmware: a PXE ROM or UEFI DHCP resends after 4, 8, 16, 32 s
// (PXE spec 2.1 §2.2.1, RFC 2131 §4.1), iPXE after 1, 2, 4, 8 s; TFTP resends
// after 2 s; HTTP is tried twice. Every loop and wait is bounded.
// Several controllers (`target`): the relay forwards every client message to
// each of them, the client takes the first OFFER and names its server in the
// REQUEST (a NAK sends it back to DISCOVER), loads iPXE from the server that
// ACKed, and from /boot.ipxe on runs the scripts Kiln serves (fleet-ipxe.ts),
// so it fails over between controllers exactly where the scripts say; the
// discovery report goes to kiln.url, then kiln.urls, as the node agent does.
// With `maxBoots` > 1 a failed boot starts again from the firmware.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from '../../src/protocols/dhcp4/packet.js';
import { getIpOption, ipOption, textOption, uintOption } from '../../src/protocols/dhcp4/options.js';
import { decodeTftp, encodeTftp, type TftpPacket } from '../../src/protocols/tftp/packet.js';
import { runIpxeScript } from './fleet-ipxe.js';
import { STORM_HTTP as HTTP, STORM_RELAY as RELAY, STORM_SERVER as SERVER } from './storm-bed.js';

const STEP_LIMIT_MS = 60_000;

/** Per-stage milliseconds of one machine that reached its discovery report (`loader`: TFTP or HTTP fetch of the iPXE binary). */
export interface MachineTiming {
  dhcp: number;
  loader: number;
  ipxeDhcp: number;
  scripts: number;
  images: number;
  report: number;
  total: number;
}
/** The firmware a simulated machine starts with. */
export type FleetFirmware = 'bios' | 'uefi-pxe' | 'uefi-http';
export const fleetFirmwares: readonly FleetFirmware[] = ['bios', 'uefi-pxe', 'uefi-http'];
/** What one machine did: `retriedAt` names the stages where it had to resend; `error` says where and why it gave up. */
export interface MachineOutcome {
  index: number;
  mac: string;
  firmware: FleetFirmware;
  ok: boolean;
  retries: number;
  retriedAt: string[];
  error?: string;
  t?: MachineTiming;
  bytes: number;
  /** Boots this machine started (2 or more: a boot failed and the machine started again from its firmware). */
  boots: number;
  /**
   * Every DHCPACK it accepted: the address, the server (option 54), the member that sent it (`from`: another than
   * `server` when a live member answered for a dead one, docs/cluster.md), when (epoch ms), and when the machine first sent
   * the REQUEST it answers (from then on the machine no longer holds an earlier address of another IP: it is in the
   * middle of a new DISCOVER/REQUEST, RFC 2131 §4.4.1, and the server may free the old one when it binds the new).
   */
  acks: Array<{ ip: string; server: string; at: number; requestedAt: number; from: string }>;
  /** Epoch ms of every exchange that succeeded (a DHCP answer, a TFTP or HTTP transfer, the report). */
  progress: number[];
  /** Exchanges that failed at one server: its address, when (epoch ms) and what (for the pause after a kill). */
  misses: Array<{ server: string; at: number; what: string }>;
}

/**
 * Where the fleet boots from: the DHCP servers its relay forwards every client message to (a relay with several
 * helper addresses), the HTTP base of each (to check what their answers name), and the address the simulator's
 * TFTP clients bind (none: any). Default: the one controller of the storm bed.
 */
export interface FleetTarget {
  dhcpServers: readonly string[];
  httpBases: readonly string[];
  clientAddress?: string;
}

const defaultTarget: FleetTarget = { dhcpServers: [SERVER], httpBases: [HTTP], clientAddress: '10.90.0.254' };
/** Epoch milliseconds with performance.now()'s resolution (comparable between simulator processes and the bench). */
const epochNow = (): number => performance.timeOrigin + performance.now();

export interface FleetRun {
  outcomes: MachineOutcome[];
  wallSeconds: number;
  /** The simulator's own event-loop delay (ms): a late timer here looks like a late reply from Kiln. */
  lag: { p50: number; p99: number; max: number };
}

/**
 * Boots `hosts` machines, `parallel` at a time (all at once by default: a
 * rack powered on together), each to its discovery report; `images` also
 * downloads the kernel and initrd the per-host script names (the bed must
 * run with the node image then). `firmware` is one kind for every machine
 * or `mixed`: machine i gets fleetFirmwares[i % 3] (default `bios`).
 */
export async function runFleet(o: {
  hosts: number;
  parallel?: number;
  images: boolean;
  firmware?: FleetFirmware | 'mixed';
  /** The machines to boot (their indices pick MAC, uuid and firmware); default 0 … hosts-1. */
  indices?: readonly number[];
  /** The relay agent address (giaddr) this simulator binds; one per simulator process (default STORM_RELAY). */
  relay?: string;
  /**
   * Power: machine i starts only when this resolves (its BMC was told to power on); its times count from
   * then. With a gate every machine waits at once and `parallel` is ignored.
   */
  gate?: (i: number) => Promise<void>;
  /** The controllers (default: the storm bed's one). */
  target?: FleetTarget;
  /**
   * Boots a machine may start (default 1): a boot that failed at any stage starts again from the firmware, as a
   * machine does when its boot order comes round again (the whole-boot time then counts from the first boot).
   */
  maxBoots?: number;
  /** Called when machine i finishes a stage (the names of MachineOutcome.retriedAt). */
  onStage?: (i: number, stage: string) => void;
  /**
   * Each machine's TFTP and HTTP from the address its DHCP ACK gave it, on connections of its own, as in a real
   * row (default: from this host's address, through one pool of 256 connections). The served pool's addresses
   * must be local here (`ip route add local <cidr> dev lo`; the storm bed's `leasedSources`).
   */
  leasedSources?: boolean;
}): Promise<FleetRun> {
  // At most 256 connections per simulator process: beyond that requests queue here, unseen by the controller (a
  // real row opens one per machine). Without the limit (2026-12-07, docs/scale.md) 10 000 machines from one source
  // address tripped the per-address limit on failed node credentials, which no real row does.
  const agent = new Agent({ connections: 256, pipelining: 0 });
  const relay = createSocket('udp4');
  await new Promise<void>((r, j) => {
    relay.once('error', j);
    relay.bind(67, o.relay ?? RELAY, () => r());
  });
  // A relay's socket receives every reply of the storm in one burst; the default buffer would drop most of them.
  relay.setRecvBufferSize(16 * 1024 * 1024);
  // The relay agent: replies come back to giaddr:67 (RFC 2131 §4.1); matched to the waiting machine by xid.
  const waiting = new Map<number, (p: DhcpPacket, from: string) => void>();
  relay.on('message', (m, rinfo) => {
    try {
      const p = decodeDhcp(new Uint8Array(m.buffer, m.byteOffset, m.byteLength));
      waiting.get(p.xid)?.(p, rinfo.address);
    } catch {
      /* not ours */
    }
  });
  const firmware = o.firmware ?? 'bios';
  const sim: Sim = {
    agent,
    relay,
    waiting,
    images: o.images,
    giaddr: o.relay ?? RELAY,
    target: o.target ?? defaultTarget,
    maxBoots: Math.max(1, o.maxBoots ?? 1),
    leasedSources: o.leasedSources === true,
    onStage: o.onStage ?? (() => {}),
    firmwareOf: (i) => (firmware === 'mixed' ? fleetFirmwares[i % fleetFirmwares.length]! : firmware),
  };
  const indices = o.indices ?? Array.from({ length: o.hosts }, (_, i) => i);
  const parallel = Math.max(1, Math.min(indices.length, o.parallel ?? indices.length));
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const started = performance.now();
  const outcomes: MachineOutcome[] = [];
  let next = 0;
  try {
    const gate = o.gate;
    await Promise.all(
      gate
        ? indices.map(async (i) => {
            try {
              await gate(i);
            } catch (err) {
              const firmware = sim.firmwareOf(i);
              const mac = macText(macOf(i));
              const error = `power: ${(err as Error).message}`;
              outcomes.push({
                index: i,
                mac,
                firmware,
                ok: false,
                retries: 0,
                retriedAt: [],
                bytes: 0,
                error,
                boots: 0,
                acks: [],
                progress: [],
                misses: [],
              });
              return;
            }
            outcomes.push(await machine(sim, i));
          })
        : Array.from({ length: parallel }, async () => {
            while (next < indices.length) {
              const i = indices[next++]!;
              outcomes.push(await machine(sim, i));
            }
          }),
    );
  } finally {
    lag.disable();
    relay.close();
    await agent.close().catch(() => {});
  }
  return {
    outcomes: outcomes.sort((a, b) => a.index - b.index),
    wallSeconds: (performance.now() - started) / 1000,
    lag: { p50: lag.percentile(50) / 1e6, p99: lag.percentile(99) / 1e6, max: lag.max / 1e6 },
  };
}

interface Sim {
  agent: Agent;
  relay: Socket;
  waiting: Map<number, (p: DhcpPacket, from: string) => void>;
  images: boolean;
  giaddr: string;
  target: FleetTarget;
  maxBoots: number;
  leasedSources: boolean;
  onStage: (i: number, stage: string) => void;
  firmwareOf(i: number): FleetFirmware;
}

/** What one machine records across its boots (MachineOutcome's fields of the same names). */
interface Trace {
  retries: { n: number };
  acks: MachineOutcome['acks'];
  progress: number[];
  misses: MachineOutcome['misses'];
  /** With `leasedSources`: the machine's own connections, from its leased address (else the simulator's pool). */
  source?: { ip: string; agent: Agent };
}

/**
 * What each firmware says in its DHCP (option 93, RFC 4578 §2.1; option 60,
 * PXE spec 2.1 §2.4 / UEFI 2.10 §24.7.2), what it must be told to load, and how
 * iPXE's build for it fills in ${buildarch} and ${platform}.
 */
const firmwareTraits: Record<
  FleetFirmware,
  {
    arch: number;
    vendorClass: string;
    loader: string;
    ipxeArch: number;
    buildarch: string;
    platform: string;
    facts: 'bios' | 'uefi';
  }
> = {
  bios: {
    arch: 0,
    vendorClass: 'PXEClient:Arch:00000:UNDI:002001',
    loader: 'undionly.kpxe',
    ipxeArch: 0,
    buildarch: 'i386',
    platform: 'pcbios',
    facts: 'bios',
  },
  'uefi-pxe': {
    arch: 7,
    vendorClass: 'PXEClient:Arch:00007:UNDI:003016',
    loader: 'ipxe.efi',
    ipxeArch: 7,
    buildarch: 'x86_64',
    platform: 'efi',
    facts: 'uefi',
  },
  'uefi-http': {
    arch: 16,
    vendorClass: 'HTTPClient:Arch:00016:UNDI:003001',
    loader: `${HTTP}/ipxe/ipxe.efi`,
    ipxeArch: 7,
    buildarch: 'x86_64',
    platform: 'efi',
    facts: 'uefi',
  },
};

const macOf = (i: number): Uint8Array => Uint8Array.of(0x52, 0x54, 0x01, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
const macText = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
/** The MAC simulated machine `i` boots with (its power-on host in the storm bench must carry the same). */
export const fleetMac = (i: number): string => macText(macOf(i));
const uuidOf = (i: number): string => `4b696c6e-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

/**
 * One DHCP exchange step as a relay with a helper address per server sees it (dhcrelay with several servers,
 * `ip helper-address` once per server): the client's message goes to every server, and the first answer of type
 * `want` (or, for a REQUEST, a DHCPNAK) is the client's. Resent with the firmware's back-off: a PXE ROM waits 4, 8,
 * 16, 32 s (PXE spec 2.1 §2.2.1), iPXE 1, 2, 4, 8 s. `server`: the REQUEST's option 54; an ACK or NAK naming
 * another server is dropped, as the clients do (iPXE src/net/udp/dhcp.c dhcp_request_rx drops an ACK whose 54 is
 * not its offer's; EDK2 Dhcp4Dxe/Dhcp4Io.c DhcpHandleRequest drops such an ACK or NAK).
 */
async function dhcpStep(
  sim: Sim,
  req: DhcpPacket,
  want: number,
  trace: Trace,
  firstTimeoutMs: number,
  server?: string,
): Promise<{ reply: DhcpPacket; from: string }> {
  const bytes = encodeDhcp(req);
  for (let attempt = 0; attempt < 4; attempt++) {
    if (attempt > 0) trace.retries.n++;
    const got = await new Promise<{ reply: DhcpPacket; from: string } | null>((resolve) => {
      const t = setTimeout(
        () => {
          sim.waiting.delete(req.xid);
          resolve(null);
        },
        firstTimeoutMs * 2 ** attempt,
      );
      sim.waiting.set(req.xid, (p, from) => {
        const type = p.options.find((o) => o.code === 53)?.data[0];
        if (type !== want && !(want === 5 && type === 6)) return;
        if (server !== undefined && getIpOption(p, 54) !== server) return;
        clearTimeout(t);
        sim.waiting.delete(req.xid);
        resolve({ reply: p, from });
      });
      for (const helper of sim.target.dhcpServers) sim.relay.send(bytes, 67, helper);
    });
    if (got) {
      trace.progress.push(epochNow());
      return got;
    }
  }
  throw new Error(`no DHCP answer type ${want}`);
}

/** DORA rounds a machine makes when each ends in DHCPNAK (three members racing for one pool can NAK one machine three times running). */
const NAK_ROUNDS = 8;

/**
 * DISCOVER, OFFER, REQUEST naming the offer's server (option 54), ACK. A DHCPNAK sends the client back to
 * DISCOVER (RFC 2131 §3.1 step 5): several controllers offer from one pool, and the lease table gives an address to
 * one of them only (ADR 0012). Firmware restarts at INIT after a NAK until its own overall time-out (EDK2's PxeBc and
 * iPXE both do); here at most NAK_ROUNDS rounds, each counted as a retry. `xid` is this DORA's first; later rounds use others.
 */
async function dora(
  sim: Sim,
  i: number,
  xid: number,
  ipxe: boolean,
  trace: Trace,
): Promise<{ ack: DhcpPacket; offer: DhcpPacket }> {
  const chaddr = new Uint8Array(16);
  chaddr.set(macOf(i));
  const fw = firmwareTraits[sim.firmwareOf(i)];
  // iPXE sends option 60 "PXEClient:Arch:…" with its own build's arch, and 77 = "iPXE".
  const vendorClass = ipxe ? `PXEClient:Arch:${String(fw.ipxeArch).padStart(5, '0')}:UNDI:002001` : fw.vendorClass;
  const opts = [
    uintOption(93, ipxe ? fw.ipxeArch : fw.arch, 2),
    textOption(60, vendorClass),
    { code: 97, data: Uint8Array.of(0, ...uuidBytes(i)) },
    ...(ipxe ? [textOption(77, 'iPXE')] : []),
  ];
  const first = ipxe ? 1000 : 4000;
  for (let round = 0; round < NAK_ROUNDS; round++) {
    const base: DhcpPacket = {
      op: 1,
      htype: 1,
      hlen: 6,
      hops: 1,
      xid: (xid + (round << 24)) >>> 0,
      secs: 0,
      flags: 0,
      ciaddr: '0.0.0.0',
      yiaddr: '0.0.0.0',
      siaddr: '0.0.0.0',
      giaddr: sim.giaddr,
      chaddr,
      sname: '',
      file: '',
      options: [],
    };
    const offer = (await dhcpStep(sim, { ...base, options: [uintOption(53, 1, 1), ...opts] }, 2, trace, first)).reply;
    const server = getIpOption(offer, 54) ?? sim.target.dhcpServers[0]!;
    let ack: DhcpPacket;
    let from: string;
    const requestedAt = epochNow();
    try {
      ({ reply: ack, from } = await dhcpStep(
        sim,
        { ...base, options: [uintOption(53, 3, 1), ipOption(50, offer.yiaddr), ipOption(54, server), ...opts] },
        5,
        trace,
        first,
        server,
      ));
    } catch (err) {
      trace.misses.push({ server, at: epochNow(), what: `${ipxe ? 'iPXE' : 'firmware'} DHCPREQUEST` });
      throw err;
    }
    if (ack.options.find((o) => o.code === 53)?.data[0] === 6) {
      trace.retries.n++;
      continue;
    }
    if (ack.yiaddr !== offer.yiaddr) throw new Error(`ACK ${ack.yiaddr} differs from OFFER ${offer.yiaddr}`);
    trace.acks.push({ ip: ack.yiaddr, server, at: epochNow(), requestedAt, from });
    return { ack, offer };
  }
  throw new Error(`DHCPNAK in ${NAK_ROUNDS} rounds`);
}

function uuidBytes(i: number): number[] {
  return uuidOf(i)
    .replace(/-/g, '')
    .match(/../g)!
    .map((h) => Number.parseInt(h, 16));
}

/**
 * A TFTP read with blksize 1468, returning the byte count. `windowsize` 1 is
 * lock-step (RFC 1350), with tsize in the RRQ, as a PXE ROM does. UEFI PXE
 * (EDK2's PxeBcDxe, as Debian's OVMF does on the wire) first sends an RRQ
 * with tsize, blksize 1468 and windowsize 4, takes the size from the OACK and
 * aborts with ERROR 8; then it reads with blksize 1468 and windowsize 4
 * (RFC 7440: ACK the last block of each window, or the last in-order block on a gap).
 */
async function tftpGet(
  at: TftpPeer,
  file: string,
  retries: { n: number },
  o: { windowsize: number; sizeProbe: boolean },
): Promise<number> {
  const blk = 1468;
  const opt = (name: string, value: string) => ({ name, value });
  const windowOpt = o.windowsize > 1 ? [opt('windowsize', String(o.windowsize))] : [];
  let size = -1;
  if (o.sizeProbe) {
    await tftpSession(
      at,
      encodeTftp({
        op: 'rrq',
        filename: file,
        mode: 'octet',
        options: [opt('tsize', '0'), opt('blksize', String(blk)), ...windowOpt],
      }),
      retries,
      async (p, reply) => {
        if (p.op !== 'oack') throw new Error(`TFTP size probe: ${p.op} instead of OACK`);
        size = Number(p.options.find((x) => x.name === 'tsize')?.value ?? -1);
        await reply(encodeTftp({ op: 'error', code: 8, message: 'User aborted the transfer' }));
        return 'done';
      },
    );
    if (!(size > 0)) throw new Error('TFTP size probe: no tsize in the OACK');
  }
  const options = [opt('blksize', String(blk)), ...(o.sizeProbe ? [] : [opt('tsize', '0')]), ...windowOpt];
  let got = 0;
  let expect = 1;
  let inWindow = 0;
  let window = 1;
  await tftpSession(
    at,
    encodeTftp({ op: 'rrq', filename: file, mode: 'octet', options }),
    retries,
    async (p, reply) => {
      if (p.op === 'oack') {
        window = Number(p.options.find((x) => x.name === 'windowsize')?.value ?? 1);
        if (!o.sizeProbe) size = Number(p.options.find((x) => x.name === 'tsize')?.value ?? -1);
        await reply(encodeTftp({ op: 'ack', block: 0 }), true);
        return 'more';
      }
      if (p.op !== 'data') return 'more';
      if (p.block !== (expect & 0xffff)) {
        // A gap or a repeat: acknowledge the last block in order and wait for the window to restart there.
        inWindow = 0;
        await reply(encodeTftp({ op: 'ack', block: (expect - 1) & 0xffff }), true);
        return 'more';
      }
      got += p.data.length;
      expect++;
      inWindow++;
      const last = p.data.length < blk;
      if (last || inWindow >= window) {
        inWindow = 0;
        await reply(encodeTftp({ op: 'ack', block: p.block }), !last);
      }
      return last ? 'done' : 'more';
    },
  );
  if (size >= 0 && got !== size) throw new Error(`TFTP: got ${got} of ${size} bytes`);
  return got;
}

/** The TFTP server (the ACK's siaddr) and the address the client binds (undefined: any). */
interface TftpPeer {
  server: string;
  bind: string | undefined;
}

/**
 * One TFTP exchange from a fresh port: sends `rrq` to port 69, then hands each packet from the
 * server's TID to `onPacket`, whose `reply(bytes, resend)` sends to the TID (and, with `resend`,
 * makes it the packet to repeat after a 2 s silence). Ends when `onPacket` says 'done'. Gives up
 * after 50 silences in all, or 5 in a row (10 s: the server is gone, e.g. killed; a bench choice,
 * not a firmware constant).
 */
async function tftpSession(
  at: TftpPeer,
  rrq: Uint8Array,
  retries: { n: number },
  onPacket: (p: TftpPacket, reply: (b: Uint8Array, resend?: boolean) => Promise<void>) => Promise<'more' | 'done'>,
): Promise<void> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, at.bind, () => r()));
  const queue: Buffer[] = [];
  let wake: (() => void) | null = null;
  let tid = 0;
  sock.on('message', (b, rinfo) => {
    if (tid && rinfo.port !== tid) return; // RFC 1350 §4: not from the transfer's TID
    tid ||= rinfo.port;
    queue.push(b);
    wake?.();
  });
  let resendBytes = rrq;
  let resendTo = 69;
  const send = (b: Uint8Array, port: number): Promise<void> =>
    new Promise((r) => sock.send(b, port, at.server, () => r()));
  const reply = async (b: Uint8Array, resend = false): Promise<void> => {
    await send(b, tid); // awaited: the final ACK must leave before the socket closes, or the server retransmits until its timeout
    if (resend) {
      resendBytes = b;
      resendTo = tid;
    }
  };
  let silent = 0;
  try {
    await send(rrq, 69);
    for (let guard = 0; guard < 200_000; guard++) {
      if (queue.length === 0) {
        const arrived = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => {
            wake = null;
            resolve(false);
          }, 2000);
          wake = () => {
            clearTimeout(t);
            wake = null;
            resolve(true);
          };
        });
        if (!arrived) {
          if (++retries.n > 50) throw new Error('TFTP: too many timeouts');
          if (++silent >= 5) throw new Error('TFTP: no answer for 10 s');
          await send(resendBytes, resendTo);
          continue;
        }
      }
      silent = 0;
      const m = queue.shift()!;
      const p = decodeTftp(new Uint8Array(m.buffer, m.byteOffset, m.byteLength));
      if (p.op === 'error') throw new Error(`TFTP error ${p.code} ${p.message}`);
      if ((await onPacket(p, reply)) === 'done') return;
    }
    throw new Error('TFTP: transfer did not end');
  } finally {
    sock.close();
  }
}

/** UEFI HTTP boot's first request: HEAD for the size (it must be there), then the GET. */
async function httpHeadThenGet(sim: Sim, url: string, trace: Trace): Promise<number> {
  let size: number;
  try {
    const head = await request(url, {
      method: 'HEAD',
      dispatcher: trace.source?.agent ?? sim.agent,
      headersTimeout: STEP_LIMIT_MS,
      bodyTimeout: STEP_LIMIT_MS,
    });
    await head.body.dump();
    size = Number(head.headers['content-length']);
    if (head.statusCode !== 200 || !(size > 0))
      throw new Error(`HEAD ${url}: ${head.statusCode}, content-length ${String(head.headers['content-length'])}`);
  } catch (err) {
    trace.misses.push({ server: new URL(url).hostname, at: epochNow(), what: `HEAD ${new URL(url).pathname}` });
    throw err;
  }
  const got = (await httpGet(sim, url, trace)).bytes;
  if (got !== size) throw new Error(`GET ${url}: ${got} bytes, HEAD said ${size}`);
  return got;
}

/** GET, tried twice; a failure is recorded as a miss at the URL's server. */
async function httpGet(sim: Sim, url: string, trace: Trace): Promise<{ text?: string; bytes: number }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await request(url, {
        dispatcher: trace.source?.agent ?? sim.agent,
        headersTimeout: STEP_LIMIT_MS,
        bodyTimeout: STEP_LIMIT_MS,
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`GET ${url}: ${res.statusCode}`);
      }
      if (String(res.headers['content-type'] ?? '').startsWith('text/')) {
        const text = await res.body.text();
        trace.progress.push(epochNow());
        return { text, bytes: text.length };
      }
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      const want = Number(res.headers['content-length'] ?? bytes);
      if (bytes !== want) throw new Error(`GET ${url}: ${bytes} of ${want} bytes`);
      trace.progress.push(epochNow());
      return { bytes };
    } catch (err) {
      trace.misses.push({ server: new URL(url).hostname, at: epochNow(), what: `GET ${new URL(url).pathname}` });
      if (attempt >= 1) throw err;
      trace.retries.n++;
    }
  }
}

/**
 * The discovery report as the node agent sends it (node/agent/lib.sh `api_retry POST discover`): to each
 * controller in `bases` in turn (kiln.url first, then kiln.urls), passing over one that fails or answers an HTTP
 * error; when none answered, again after 1, 2, 4 … s, at most 30 s, 10 rounds in all (api_retry: KILN_TRIES
 * defaults to 10, the sleep doubles up to 30 s; each attempt is bounded by 60 s, as the agent's `timeout 60 nc` in http_raw).
 * The body carries the boot's enrolment secret on every try (discover.sh `discover_report`), so a try whose answer
 * was lost after the controller committed is answered again with a fresh credential.
 */
async function sendReport(sim: Sim, bases: readonly string[], body: string, trace: Trace): Promise<void> {
  let last = '';
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      trace.retries.n++;
      await new Promise((r) => setTimeout(r, 1000 * Math.min(30, 2 ** (round - 1))));
    }
    for (const base of bases) {
      try {
        const report = await request(`${base}/api/v1/node/discover`, {
          method: 'POST',
          dispatcher: trace.source?.agent ?? sim.agent,
          headers: { 'content-type': 'application/json' },
          headersTimeout: STEP_LIMIT_MS,
          bodyTimeout: STEP_LIMIT_MS,
          body,
        });
        if (report.statusCode !== 200)
          throw new Error(`discovery report: ${report.statusCode} ${await report.body.text()}`);
        const answer = (await report.body.json()) as { credential?: string };
        if (!answer.credential) throw new Error('discovery report answered without a credential');
        trace.progress.push(epochNow());
        return;
      } catch (err) {
        last = (err as Error).message;
        trace.misses.push({ server: new URL(base).hostname, at: epochNow(), what: 'POST discover' });
      }
    }
  }
  throw new Error(last);
}

/** The controllers' bases in a chain script's `chain` commands, in order. */
const chainBases = (text: string): string[] =>
  [...text.matchAll(/chain --replace --autofree (\S+)/g)].map((m) => new URL(m[1]!).origin);

type BootResult = { ok: true; t: MachineTiming } | { ok: false; error: string };

async function machine(sim: Sim, i: number): Promise<MachineOutcome> {
  const trace: Trace = { retries: { n: 0 }, acks: [], progress: [], misses: [] };
  const retriedAt: string[] = [];
  const bytes = { n: 0 };
  const t0 = performance.now();
  let boots = 0;
  let r: BootResult;
  do {
    boots++;
    r = await bootOnce(sim, i, boots, t0, trace, retriedAt, bytes);
  } while (!r.ok && boots < sim.maxBoots);
  return {
    index: i,
    mac: macText(macOf(i)),
    firmware: sim.firmwareOf(i),
    ok: r.ok,
    retries: trace.retries.n,
    retriedAt,
    bytes: bytes.n,
    ...(r.ok ? { t: r.t } : { error: r.error }),
    boots,
    acks: trace.acks,
    progress: trace.progress,
    misses: trace.misses,
  };
}

/**
 * One boot of machine i, from its firmware's DHCP to the discovery report; `t0` is the first boot's start (the
 * whole-boot time counts from there). The iPXE part runs the scripts Kiln serves (fleet-ipxe.ts).
 */
async function bootOnce(
  sim: Sim,
  i: number,
  boot: number,
  t0: number,
  trace: Trace,
  retriedAt: string[],
  bytes: { n: number },
): Promise<BootResult> {
  const mac = macText(macOf(i));
  const firmware = sim.firmwareOf(i);
  const fw = firmwareTraits[firmware];
  let before = trace.retries.n;
  const stages = [
    'firmware DHCP',
    firmware === 'uefi-http' ? 'HTTP iPXE' : 'TFTP iPXE',
    'iPXE DHCP',
    'scripts',
    'kernel+initrd',
    'report',
  ];
  const start = performance.now();
  const mark: number[] = [];
  const step = () => {
    const stage = stages[mark.length]!;
    if (trace.retries.n > before) retriedAt.push(stage);
    before = trace.retries.n;
    mark.push(performance.now());
    sim.onStage(i, stage);
  };
  try {
    // Distinct transaction ids per machine, boot and (in dora) round.
    const xid = (0x10000000 + i * 2 + ((boot - 1) << 26)) >>> 0;
    const { ack, offer } = await dora(sim, i, xid, false, trace);
    await useLease(sim, trace, ack.yiaddr);
    step();
    // EDK2's HTTP boot takes the boot URI from the offer it selected, not the ACK (HttpBootDxe/HttpBootDhcp4.c,
    // HttpBootDhcp4ExtractUriInfo); PXE takes siaddr and the file from the ACK (PxeBcDxe, PxeBcDhcp4BootInfo).
    const loader = firmware === 'uefi-http' ? offer.file : ack.file;
    const loaderOk =
      firmware === 'uefi-http'
        ? sim.target.httpBases.some((b) => loader === `${b}/ipxe/ipxe.efi`)
        : loader === fw.loader;
    if (!loaderOk) throw new Error(`${firmware} boot file ${loader}, expected ${fw.loader}`);
    // UEFI 2.10 §24.7.2: an HTTP boot client ignores an offer without option 60 "HTTPClient".
    if (
      firmware === 'uefi-http' &&
      new TextDecoder().decode(ack.options.find((o) => o.code === 60)?.data) !== 'HTTPClient'
    )
      throw new Error('HTTP boot ACK lacks option 60 HTTPClient');
    if (firmware === 'uefi-http') bytes.n += await httpHeadThenGet(sim, loader, trace);
    else {
      try {
        bytes.n += await tftpGet(
          { server: ack.siaddr, bind: trace.source?.ip ?? sim.target.clientAddress },
          ack.file,
          trace.retries,
          firmware === 'uefi-pxe' ? { windowsize: 4, sizeProbe: true } : { windowsize: 1, sizeProbe: false },
        );
        trace.progress.push(epochNow());
      } catch (err) {
        trace.misses.push({ server: ack.siaddr, at: epochNow(), what: `TFTP ${ack.file}` });
        throw err;
      }
    }
    step();
    const { ack: ack2 } = await dora(sim, i, xid + 1, true, trace);
    await useLease(sim, trace, ack2.yiaddr);
    step();
    if (!sim.target.httpBases.some((b) => ack2.file === `${b}/boot.ipxe`)) throw new Error(`iPXE file ${ack2.file}`);
    // iPXE's autoboot fetches the file DHCP named; from there on it runs what Kiln serves.
    const chain = await httpGet(sim, ack2.file, trace);
    if (!chain.text?.includes('/boot/host.ipxe')) throw new Error('chain script does not name the per-host script');
    let hostScriptUrl = '';
    const run = await runIpxeScript(
      {
        fetchScript: async (url) => {
          const text = (await httpGet(sim, url, trace)).text ?? '';
          if (!text.startsWith('#!ipxe')) throw new Error(`${url} is not an iPXE script: ${text.slice(0, 80)}`);
          return text;
        },
        fetchImage: async (url) => {
          bytes.n += (await httpGet(sim, url, trace)).bytes;
        },
        onChained: (url) => {
          if (!hostScriptUrl && new URL(url).pathname === '/boot/host.ipxe') {
            hostScriptUrl = url;
            step();
          }
          // Without the node image the per-host script is a wait script: it is fetched, not run.
          return sim.images ? 'run' : 'stop';
        },
        sleep: (n) => new Promise((r) => setTimeout(r, Math.min(60, n) * 1000)),
      },
      ack2.file,
      chain.text,
      { 'net0/mac': mac, uuid: uuidOf(i), buildarch: fw.buildarch, platform: fw.platform },
      // Real iPXE runs a script for ever; this bound leaves room for a long wait in Kiln's boot waiting room
      // (about five commands per wait script).
      5_000,
    );
    if (run.kind === 'failed') throw new Error(`iPXE: ${run.why}`);
    step();
    // The agent's controllers: kiln.url, then kiln.urls (the kernel command line). Without the node image
    // (no kernel line), the member that served the per-host script, then the chain script's others.
    const word = (k: string) =>
      run.kind === 'booted' ? run.cmdline.find((w) => w.startsWith(`${k}=`))?.slice(k.length + 1) : undefined;
    const bases =
      run.kind === 'booted'
        ? [word('kiln.url') ?? '', ...(word('kiln.urls')?.split(',') ?? [])].filter(Boolean)
        : [new URL(run.url).origin, ...chainBases(chain.text)];
    if (bases.length === 0) throw new Error(`the kernel command line names no controller: ${run.kind}`);
    await sendReport(
      sim,
      [...new Set(bases)],
      JSON.stringify({
        // A new enrolment secret each boot, the same on every try of this boot's report (discover.sh enrol_secret).
        enrolSecret: `ke_${randomBytes(32).toString('hex')}`,
        facts: {
          bootMac: mac,
          firmware: fw.facts,
          nics: [{ mac, name: 'eth0', link: true }],
          cpu: { model: 'sim', cores: 2 },
          memory: { bytes: 1 << 30 },
          disks: [{ name: 'vda', bytes: 2 ** 31 }],
          dmi: { serial: `SIM${i}`, vendor: 'Kiln', model: 'storm' },
        },
      }),
      trace,
    );
    step();
    const [a, b, c, d, e, f] = mark as [number, number, number, number, number, number];
    return {
      ok: true,
      t: {
        dhcp: a - start,
        loader: b - a,
        ipxeDhcp: c - b,
        scripts: d - c,
        images: e - d,
        report: f - e,
        total: f - t0,
      },
    };
  } catch (err) {
    return { ok: false, error: `${stages[mark.length]}: ${(err as Error).message.split('\n')[0]}` };
  } finally {
    await useLease(sim, trace, null);
  }
}

/** With `leasedSources`, the machine's connections from `ip` from now on (closing those of another address); null closes them. */
async function useLease(sim: Sim, trace: Trace, ip: string | null): Promise<void> {
  if (!sim.leasedSources || trace.source?.ip === ip) return;
  const old = trace.source;
  trace.source = ip ? { ip, agent: new Agent({ connections: 2, pipelining: 0, localAddress: ip }) } : undefined;
  await old?.agent.close().catch(() => {});
}
