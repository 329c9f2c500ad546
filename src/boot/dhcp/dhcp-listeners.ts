import { KilnError, type ErrorIssue } from '../../error/kiln-error.js';
import type { DhcpSubnet } from './dhcp-config.js';
import { bindDhcpSocket, type DatagramSocket } from './dhcp-socket.js';
import { bindSocketToDevice, loadBindToDevice } from './bind-to-device.js';

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
    if (s.attached) issues.push({ path: `${path}.attached`, code: 'bad_value', message: `${path}.attached: with named interfaces, mark the attached subnet with "interface: <dev>" instead of "attached: true"` });
    if (s.interface === undefined) return;
    const first = seen.get(s.interface);
    if (first !== undefined) issues.push({ path: `${path}.interface`, code: 'bad_value', message: `${path}.interface: "${s.interface}" is already the interface of dhcp.subnets.${first}; one subnet per interface` });
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
  if (issues.length) throw new KilnError('config_invalid', `invalid configuration:\n  ${issues.map((i) => i.message).join('\n  ')}`, { issues });
  const devices = subnets.flatMap((s) => (s.interface === undefined ? [] : [s.interface]));
  if (devices.length === 0) return [undefined];
  return subnets.some((s) => s.interface === undefined) ? [...devices, undefined] : devices;
}

/**
 * Binds the sockets `planDhcpListeners` asks for on `address:port`. In
 * interface mode every socket sets SO_REUSEADDR (they share the port) and the
 * device ones SO_BINDTODEVICE through the native addon; a missing addon or a
 * failed bind throws `config_invalid` after closing what was already bound.
 */
export async function bindDhcpListeners(opts: { address: string; port: number; subnets: readonly DhcpSubnet[]; recvBufferBytes?: number }): Promise<DhcpListener[]> {
  const plan = planDhcpListeners(opts.subnets);
  const one = async (o: Parameters<typeof bindDhcpSocket>[2], dev?: string): Promise<DhcpListener> => {
    const socket = await bindDhcpSocket(opts.address, opts.port, { ...o, recvBufferBytes: opts.recvBufferBytes });
    return { socket, interface: dev, recvBufferBytes: socket.recvBufferBytes };
  };
  if (plan.length === 1 && plan[0] === undefined) return [await one({})];
  const addon = loadBindToDevice();
  const out: DhcpListener[] = [];
  try {
    for (const dev of plan) {
      const setting = `dhcp.subnets.${opts.subnets.findIndex((s) => s.interface === dev)}.interface`;
      const onBound = dev === undefined ? undefined : (sock: Parameters<typeof bindSocketToDevice>[1]) => bindSocketToDevice(addon, sock, dev, setting);
      out.push(await one({ reuseAddr: true, onBound }, dev));
    }
  } catch (err) {
    for (const l of out) l.socket.close();
    throw err;
  }
  return out;
}

/** Normalizes the test hook `sockets.dhcp`/`sockets.pxe` of `startDhcpServer`: one socket means one unbound listener. */
export function listenersOf(s: DatagramSocket | readonly DhcpListener[] | undefined): DhcpListener[] {
  if (s === undefined) return [];
  return Array.isArray(s) ? [...s] : [{ socket: s as DatagramSocket }];
}
