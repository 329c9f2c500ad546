import { execFileSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { KilnError, type ErrorIssue } from '../../error/kiln-error.js';
import type { DhcpSubnet } from './dhcp-config.js';
import type { Socket } from 'node:dgram';
import type { DatagramSocket, SocketTrouble } from '../../net/datagram/datagram-socket.js';
import { bindUdpSocket, type UdpSocket } from '../../net/datagram/udp-socket.js';
import {
  bindSocketToDevice,
  forceRecvBuffer,
  loadBindToDevice as loadAddon,
  type BindToDeviceAddon,
} from '../../net/datagram/bind-to-device.js';
import { inCidr } from './subnet-math.js';

/** One IPv4 address of this machine: the interface holding it, and its address in CIDR form (`10.0.0.1/24`). */
export interface LocalAddress {
  interface: string;
  address: string;
}

/**
 * This machine's IPv4 addresses (loopback included: a 127.0.0.0/8 subnet is
 * attached to lo), read with iproute2 (`ip -j -4 addr show`). Node's
 * networkInterfaces() leaves out every interface without carrier (libuv
 * skips interfaces that are not RUNNING): a provisioning NIC whose cable is
 * not in yet, or a bridge whose only port is a tap no VM has opened. Their
 * addresses are still this machine's, and DHCP must serve there once the
 * link comes up, so they count. Without iproute2, falls back to
 * networkInterfaces().
 */
export function localIpv4Addresses(): LocalAddress[] {
  let json: string;
  try {
    json = execFileSync('ip', ['-j', '-4', 'addr', 'show'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return Object.entries(networkInterfaces()).flatMap(([dev, list]) =>
      (list ?? []).filter((a) => a.family === 'IPv4').map((a) => ({ interface: dev, address: a.address })),
    );
  }
  return parseIpAddrJson(json);
}

/** The IPv4 addresses in `ip -j addr show` output, whatever the link's carrier or operstate. Pure. */
export function parseIpAddrJson(json: string): LocalAddress[] {
  const links = JSON.parse(json) as Array<{
    ifname?: unknown;
    addr_info?: Array<{ family?: unknown; local?: unknown }>;
  }>;
  return links.flatMap((l) =>
    typeof l.ifname === 'string'
      ? (l.addr_info ?? [])
          .filter((a) => a.family === 'inet' && typeof a.local === 'string')
          .map((a) => ({ interface: l.ifname as string, address: a.local as string }))
      : [],
  );
}

const configError = (issues: ErrorIssue[]) =>
  new KilnError('config_invalid', `invalid configuration: ${issues.map((i) => i.message).join('; ')}`, { issues });

/**
 * Gives every attached subnet its interface, from this machine's own
 * addresses: the interface holding an address inside the subnet's CIDR (so a
 * broadcast reply leaves there, whatever the route table says). `interface:`
 * stays the explicit override. A subnet with no local address must be
 * declared `relayed: true`; one that is neither is a config error naming it,
 * as are a relayed subnet with a local address, an attached one whose address
 * sits on two interfaces, and `relayed` beside `attached` or `interface`. An
 * attached subnet without `serverAddress` gets the local address as its
 * option 54 and next-server when `globalServerAddress` is outside the subnet
 * (a multi-homed controller's first address is another network's). Pure.
 */
export function resolveSubnetInterfaces(
  subnets: readonly DhcpSubnet[],
  local: readonly LocalAddress[],
  globalServerAddress?: string,
): DhcpSubnet[] {
  const issues: ErrorIssue[] = [];
  const out = subnets.map((s, i): DhcpSubnet => {
    const path = `dhcp.subnets.${i}`;
    const name = `${path} (${s.cidr})`;
    const inside = local.filter((a) => inCidr(a.address, s.cidr));
    const devices = [...new Set(inside.map((a) => a.interface))];
    const shown = inside.map((a) => `${a.interface} ${a.address}`).join(', ');
    if (s.relayed) {
      if (s.attached || s.interface !== undefined)
        issues.push({
          path: `${path}.relayed`,
          code: 'bad_value',
          message: `${name}: relayed: true cannot go with ${s.attached ? 'attached: true' : 'interface'}; a subnet is either on this machine's interface or behind a relay`,
        });
      else if (inside.length)
        issues.push({
          path: `${path}.relayed`,
          code: 'bad_value',
          message: `${name}: relayed: true, but this machine has an address in it (${shown}); it is attached: remove relayed: true`,
        });
      return s;
    }
    if (s.interface !== undefined) {
      const own = inside.find((a) => a.interface === s.interface);
      return own &&
        s.serverAddress === undefined &&
        globalServerAddress !== undefined &&
        !inCidr(globalServerAddress, s.cidr)
        ? { ...s, serverAddress: own.address }
        : s;
    }
    if (devices.length === 0) {
      const known =
        local
          .filter((a) => !a.address.startsWith('127.'))
          .map((a) => `${a.interface} ${a.address}`)
          .join(', ') || 'none';
      issues.push({
        path,
        code: 'bad_value',
        message: s.attached
          ? `${name}: attached: true, but no interface of this machine has an address in ${s.cidr} (its addresses: ${known}); add one, name the interface with interface: <dev>, or mark the subnet relayed: true if a DHCP relay serves it`
          : `${name} is neither attached (no interface of this machine has an address in it; its addresses: ${known}) nor declared relayed: true; add relayed: true for a subnet behind a DHCP relay, or give this machine an address in it`,
      });
      return s;
    }
    if (devices.length > 1) {
      issues.push({
        path: `${path}.interface`,
        code: 'bad_value',
        message: `${name}: several interfaces have an address in it (${shown}); name the one to serve with interface: <dev>`,
      });
      return s;
    }
    const own = inside[0];
    const serverAddress =
      s.serverAddress ??
      (globalServerAddress !== undefined && !inCidr(globalServerAddress, s.cidr) ? own.address : undefined);
    return {
      ...s,
      attached: true,
      interface: own.interface,
      ...(serverAddress !== undefined ? { serverAddress } : {}),
    };
  });
  if (issues.length) throw configError(issues);
  return out;
}

/**
 * One receiving socket of the DHCP server. `interface` is the device the
 * socket is bound to (SO_BINDTODEVICE): it receives only what arrived there
 * and its sends leave only there. Undefined: an unbound socket (any interface).
 */
export interface DhcpListener {
  socket: DatagramSocket;
  interface?: string | undefined;
  /** The receive buffer the kernel granted (bytes), for the start-up check against `dhcp.receiveBufferKiB`. */
  recvBufferBytes?: number;
}

/** Config problems of interface mode: an `attached` flag beside named interfaces, or two subnets on one interface. Empty when fine. */
export function checkInterfaceConfig(subnets: readonly DhcpSubnet[]): ErrorIssue[] {
  if (!subnets.some((s) => s.interface !== undefined)) return [];
  const issues: ErrorIssue[] = [];
  const seen = new Map<string, number>();
  subnets.forEach((s, i) => {
    const path = `dhcp.subnets.${i}`;
    if (s.attached && s.interface === undefined)
      issues.push({
        path: `${path}.attached`,
        code: 'bad_value',
        message: `${path}.attached: with named interfaces, mark the attached subnet with "interface: <dev>" instead of "attached: true"`,
      });
    if (s.interface === undefined) return;
    const first = seen.get(s.interface);
    if (first !== undefined)
      issues.push({
        path: `${path}.interface`,
        code: 'bad_value',
        message: `${path}.interface: "${s.interface}" is already the interface of dhcp.subnets.${first}; one subnet per interface (serve the other behind a relay, or on another interface)`,
      });
    else seen.set(s.interface, i);
  });
  return issues;
}

/**
 * The devices to listen on, one entry per socket. Single-socket mode (no
 * subnet names an interface): one unbound socket. Interface mode: one socket
 * per named interface, plus one unbound socket for relays when some subnet has
 * no interface (it also gets a copy of every broadcast; those are ignored,
 * see `selectSubnet`). Pure; throws `config_invalid` for the issues above.
 */
export function planDhcpListeners(subnets: readonly DhcpSubnet[]): Array<string | undefined> {
  const issues = checkInterfaceConfig(subnets);
  if (issues.length) throw configError(issues);
  const devices = subnets.flatMap((s) => (s.interface === undefined ? [] : [s.interface]));
  if (devices.length === 0) return [undefined];
  return subnets.some((s) => s.interface === undefined) ? [...devices, undefined] : devices;
}

/**
 * Binds a DHCP socket on `address:port`: UDP over IPv4 with SO_BROADCAST
 * (replies to clients without an address go to 255.255.255.255, RFC 2131
 * §4.1). `reuseAddr` lets per-interface sockets share the port; `onBound` is
 * where the device binding goes.
 */
export function bindDhcpSocket(
  address: string,
  port: number,
  opts: { reuseAddr?: boolean; onBound?: (sock: Socket) => void; recvBufferBytes?: number } & SocketTrouble = {},
): Promise<UdpSocket> {
  const { recvBufferBytes, ...rest } = opts;
  return bindUdpSocket({ address, port }, { ...rest, broadcast: true, recvBufferSize: recvBufferBytes });
}

/** The native addon for `dhcp.subnets[].interface`; throws `config_invalid` saying how to build it or do without. */
export function loadBindToDevice(): BindToDeviceAddon {
  return loadAddon({
    setting: 'dhcp.subnets[].interface',
    remedy: 'Remove the interface keys and serve one attached subnet, or use relays.',
  });
}

/** Where one DHCP socket reports trouble (the server knows which interface and port it is). */
export interface DhcpSocketTrouble {
  onError?: (err: NodeJS.ErrnoException, op: 'send' | 'receive') => void;
  onDeath?: (err: NodeJS.ErrnoException) => void;
}

/** What binding one DHCP listener needs; `trouble` gives each socket its error and death reports. */
export interface DhcpBindOptions {
  address: string;
  port: number;
  subnets: readonly DhcpSubnet[];
  recvBufferBytes?: number;
  trouble?: (dev: string | undefined) => DhcpSocketTrouble;
}

/**
 * Binds one socket of the plan: on `address:port`, bound to device `dev`
 * (SO_BINDTODEVICE, with SO_REUSEADDR so the per-device sockets share the
 * port) or unbound. Also used to re-open a socket that died.
 */
export async function bindDhcpListener(
  opts: DhcpBindOptions,
  dev: string | undefined,
  shared: boolean,
  addon?: BindToDeviceAddon,
): Promise<DhcpListener> {
  const setting = `dhcp.subnets.${opts.subnets.findIndex((s) => s.interface === dev)}.interface`;
  const a = dev === undefined ? undefined : (addon ?? loadBindToDevice());
  const onBound =
    dev === undefined
      ? undefined
      : (sock: Socket) => bindSocketToDevice(a!, sock, dev, { setting, socket: 'DHCP socket' });
  const socket = await bindDhcpSocket(opts.address, opts.port, {
    ...(shared ? { reuseAddr: true } : {}),
    onBound,
    recvBufferBytes: opts.recvBufferBytes,
    ...opts.trouble?.(dev),
  });
  // SO_RCVBUF is capped by net.core.rmem_max (208 KiB to 4 MiB on most hosts), far below a storm's burst;
  // the server binds port 67 as root, so SO_RCVBUFFORCE can grant what dhcp.receiveBufferKiB asks. When it
  // cannot (no CAP_NET_ADMIN, addon not built), the smaller grant stays and the server logs it at start.
  const wanted = opts.recvBufferBytes ?? 0;
  if (wanted > 0 && socket.recvBufferBytes() < wanted) forceRecvBuffer(socket.fd(), wanted, a);
  return { socket, interface: dev, recvBufferBytes: socket.recvBufferBytes() };
}

/**
 * Binds the sockets `planDhcpListeners` asks for on `address:port`. In
 * interface mode every socket sets SO_REUSEADDR (they share the port) and the
 * device ones SO_BINDTODEVICE through the native addon; a missing addon or a
 * failed bind throws `config_invalid` after closing what was already bound.
 */
export async function bindDhcpListeners(
  opts: DhcpBindOptions,
  bindOne: typeof bindDhcpListener = bindDhcpListener,
): Promise<DhcpListener[]> {
  const plan = planDhcpListeners(opts.subnets);
  if (plan.length === 1 && plan[0] === undefined) return [await bindOne(opts, undefined, false)];
  const addon = bindOne === bindDhcpListener ? loadBindToDevice() : undefined;
  const out: DhcpListener[] = [];
  try {
    for (const dev of plan) out.push(await bindOne(opts, dev, true, addon));
  } catch (err) {
    for (const l of out) l.socket.close();
    throw err;
  }
  return out;
}

/** Normalizes the test hook `sockets.dhcp`/`sockets.pxe` of `startDhcpServer`: one socket means one unbound listener. */
export function listenersOf(s: DatagramSocket | readonly DhcpListener[] | undefined): DhcpListener[] {
  if (s === undefined) return [];
  return 'send' in s ? [{ socket: s }] : [...s];
}
