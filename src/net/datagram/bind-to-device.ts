// Linux only (STYLE rule 4: OS-specific socket tricks live in their own file).
// Node's dgram can neither bind a socket to a device nor report the arrival
// interface, so Kiln's one native addon (native/bind-to-device, N-API, built
// by `npm ci` through the root package's `install` script) sets SO_BINDTODEVICE
// on the socket's file descriptor (DHCP per-interface sockets, docs/dhcp.md "Interfaces").
import { createRequire } from 'node:module';
import type { Socket } from 'node:dgram';
import { KilnError } from '../../error/kiln-error.js';
import { packagePath } from '../../runtime/package-path.js';

/** The addon's exports (native/bind-to-device/bind_to_device.c). Both throw an Error with an errno `code`. */
export interface BindToDeviceAddon {
  /** setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname): the socket then receives and sends only on `ifname`. */
  bindToDevice(fd: number, ifname: string): void;
  /** Drops the datagrams already queued on the non-blocking socket `fd`; returns how many. */
  discardQueued(fd: number): number;
  /** setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes): a receive buffer past net.core.rmem_max (needs CAP_NET_ADMIN). */
  forceRecvBuffer(fd: number, bytes: number): void;
}

/** The command that builds the addon; error messages quote it. */
export const ADDON_BUILD_COMMAND =
  'npm run install   (node-gyp rebuild -C native/bind-to-device; needs gcc, g++, make, python3)';
const ADDON_PATH = 'native/bind-to-device/build/Release/bind_to_device.node';

/** Who needs a device binding, for the error messages: the setting that names the device, and how to do without. */
export interface DeviceBindingNeed {
  /** The config key naming the device, such as `dhcp.subnets[].interface`. */
  setting: string;
  /** One sentence: how to configure the server without device binding (shown when the OS is not Linux). */
  remedy: string;
}

/** Loads the built addon. Throws `config_invalid` naming `need.setting` and the build command when it is not built or the OS is not Linux. */
export function loadBindToDevice(need: DeviceBindingNeed): BindToDeviceAddon {
  if (process.platform !== 'linux') {
    throw new KilnError(
      'config_invalid',
      `${need.setting} needs Linux (SO_BINDTODEVICE); this is ${process.platform}. ${need.remedy}`,
    );
  }
  try {
    return createRequire(import.meta.url)(packagePath(ADDON_PATH)) as BindToDeviceAddon;
  } catch (err) {
    throw new KilnError(
      'config_invalid',
      `${need.setting} needs the native addon native/bind-to-device, which is not built or does not load (${(err as Error).message.split('\n')[0]}). Build it with: ${ADDON_BUILD_COMMAND}`,
      { cause: err },
    );
  }
}

/**
 * Raises the receive buffer of the socket `fd` to `bytes` past net.core.rmem_max
 * (SO_RCVBUFFORCE, socket(7)), for a server that runs with CAP_NET_ADMIN. Returns
 * why it could not (addon not built, not Linux, EPERM) instead of throwing: the
 * caller keeps the smaller buffer and says so.
 */
export function forceRecvBuffer(
  fd: number,
  bytes: number,
  addon?: BindToDeviceAddon,
): { ok: true } | { ok: false; why: string } {
  try {
    (addon ?? loadBindToDevice({ setting: 'dhcp.receiveBufferKiB', remedy: '' })).forceRecvBuffer(fd, bytes);
    return { ok: true };
  } catch (err) {
    return { ok: false, why: (err as Error).message };
  }
}

/**
 * The OS file descriptor of a bound dgram socket. Node has no public API for
 * it; on Linux the socket's libuv handle (`UDP` wrap) exposes `fd`, a field
 * that has been stable since Node 0.x. Read through the internal state symbol
 * first, because the `_handle` getter is runtime-deprecated (DEP0112) and warns.
 */
export function socketFd(sock: Socket): number {
  const state = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const handle =
    (state ? (sock as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[state]?.handle : undefined) ??
    (sock as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0)
    throw new KilnError(
      'internal',
      'cannot read the file descriptor of a dgram socket (bound? Node internals changed?)',
    );
  return fd;
}

/**
 * Binds the already bound `sock` to device `ifname` and drops what it queued
 * before that (datagrams from other interfaces). Call synchronously in the
 * bind callback: Node has not read from the socket yet, so nothing read later
 * came from another interface. Throws `config_invalid` naming `where.setting`
 * and the socket (`where.socket`, such as "DHCP socket").
 */
export function bindSocketToDevice(
  addon: BindToDeviceAddon,
  sock: Socket,
  ifname: string,
  where: { setting: string; socket: string },
): void {
  const fd = socketFd(sock);
  try {
    addon.bindToDevice(fd, ifname);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const hint =
      code === 'ENODEV'
        ? 'no such interface on this host'
        : code === 'EPERM'
          ? 'needs CAP_NET_RAW (run as root or grant the capability)'
          : (err as Error).message;
    throw new KilnError(
      'config_invalid',
      `${where.setting}: cannot bind the ${where.socket} to interface "${ifname}": ${hint}`,
      {
        cause: err,
      },
    );
  }
  addon.discardQueued(fd);
}
