import {
  ClientArch,
  DhcpOption,
  IpxeSubOption,
  PxeDiscoveryControl,
  PxeSubOption,
  VendorClassPrefix,
} from '../protocols/dhcp4/codes.js';
import { encapsulatedOption, textOption, uintOption } from '../protocols/dhcp4/options.js';
import type { DhcpRawOption } from '../protocols/dhcp4/packet.js';

/** What a network-booting client says about itself in its DHCP request. */
export interface BootClient {
  /** Option 93 (RFC 4578 §2.1), in the client's order; empty when absent. */
  archs: number[];
  /** Option 60, e.g. "PXEClient:Arch:00007:UNDI:003016" or "HTTPClient:Arch:00016:UNDI:003001". */
  vendorClass?: string | undefined;
  /** Option 77 user classes; iPXE sends "iPXE". */
  userClasses: string[];
}

/** Where boot files live. `httpBase` has no trailing slash, e.g. "http://10.0.0.1:8080". */
export interface BootTargets {
  httpBase: string;
  /** TFTP file names of the iPXE builds; defaults in `defaultBootFiles`. */
  files: BootFiles;
}

/** TFTP (and HTTP, under `<httpBase>/ipxe/`) names of the iPXE builds Kiln chains into. */
export interface BootFiles {
  biosPxe: string;
  efiX64: string;
  efiArm64: string;
}

/** Debian's `ipxe` file names: bookworm ships the x86 ones; `ipxe-arm64.efi` is the arm64 build in trixie's `ipxe` package (Architecture: all). */
export const defaultBootFiles: BootFiles = { biosPxe: 'undionly.kpxe', efiX64: 'ipxe.efi', efiArm64: 'ipxe-arm64.efi' };

/**
 * The boot answer for one client: `file` goes in the BOOTP file field (a TFTP
 * name or, for UEFI HTTP boot, a URL), `tftp` says whether siaddr/option 66
 * must name the TFTP server, `options` are extra options of a reply that also
 * hands out an address, and `proxyOptions` those of a ProxyDHCP reply (no
 * address; PXE spec 2.1 §2.2.5), which the firmware reads differently.
 */
export type BootChoice =
  | {
      kind: 'ipxe-script' | 'tftp' | 'http';
      firmware: string;
      file: string;
      tftp: boolean;
      options: DhcpRawOption[];
      proxyOptions: DhcpRawOption[];
    }
  | { kind: 'none'; reason: string };

/** The client's architecture: option 93 first, else the "Arch:NNNNN" part of option 60 (PXE spec 2.1 §2.4), else undefined. */
export function clientArchOf(c: BootClient): number | undefined {
  if (c.archs.length > 0) return c.archs[0];
  const m = /:Arch:(\d{5})/.exec(c.vendorClass ?? '');
  return m ? Number(m[1]) : undefined;
}

const httpArchs = new Set<number>([
  ClientArch.efiX86Http,
  ClientArch.efiX64Http,
  ClientArch.efiArm32Http,
  ClientArch.efiArm64Http,
  ClientArch.biosHttp,
]);

// iPXE waits about 2 s per DHCP round for ProxyDHCP offers unless told this
// answer is complete; setting 175.176 ("no-pxedhcp") = 1 skips the wait (ipxe.org/cfg/no-pxedhcp).
const ipxeNoProxyWait = encapsulatedOption(DhcpOption.ipxeEncapsulated, [uintOption(IpxeSubOption.noPxedhcp, 1, 1)]);
// A PXE ROM that sees "PXEClient" in option 60 of the offer but no option 43
// may start PXE boot server discovery (multicast/broadcast to 4011) instead
// of using the file field; sub-option 6 bit 3 = "use the boot file" (PXE spec 2.1 §2.4).
const pxeUseBootfile = encapsulatedOption(DhcpOption.vendorSpecific, [
  uintOption(PxeSubOption.discoveryControl, PxeDiscoveryControl.useBootfile, 1),
]);
// PXE spec 2.1 §2.2.1: the client only treats an offer as a PXE offer when it carries option 60 "PXEClient".
// iPXE likewise takes an address-less offer as ProxyDHCP only with 60 "PXEClient" (src/net/udp/dhcp.c,
// dhcp_discovery_rx), and EDK2's PXE client classifies offers by it (PxeBcParseDhcp4Packet).
const pxeVendorClass = textOption(DhcpOption.vendorClassIdentifier, VendorClassPrefix.pxe);
// UEFI 2.10 §24.7.2: an HTTP boot client ignores offers without option 60 "HTTPClient".
const httpVendorClass = textOption(DhcpOption.vendorClassIdentifier, VendorClassPrefix.http);

/**
 * Chooses what a network-booting client loads next. Pure. Order matters: a
 * client that already runs iPXE gets the HTTP boot script (never chain iPXE
 * into itself, or it loops forever); then UEFI HTTP boot; then PXE ROMs by arch.
 */
export function decideBoot(c: BootClient, t: BootTargets): BootChoice {
  const vc = c.vendorClass ?? '';
  const isPxe = vc.startsWith(VendorClassPrefix.pxe);
  const isHttp = vc.startsWith(VendorClassPrefix.http);
  if (c.userClasses.includes('iPXE')) {
    // ProxyDHCP: 175.176 is read only from an offer that carries an address, so it has no place here;
    // 60 "PXEClient" is what makes iPXE keep the offer as its ProxyDHCP offer.
    return {
      kind: 'ipxe-script',
      firmware: 'ipxe',
      file: `${t.httpBase}/boot.ipxe`,
      tftp: false,
      options: [ipxeNoProxyWait],
      proxyOptions: [pxeVendorClass],
    };
  }
  if (!isPxe && !isHttp)
    return { kind: 'none', reason: 'not a network-boot client (option 60 is neither PXEClient nor HTTPClient)' };
  const arch = clientArchOf(c);
  if (isHttp || (arch !== undefined && httpArchs.has(arch))) return httpChoice(arch, t);
  return pxeChoice(arch, t);
}

function httpChoice(arch: number | undefined, t: BootTargets): BootChoice {
  const url = (f: string) => `${t.httpBase}/ipxe/${f}`;
  if (arch === ClientArch.efiX64Http || arch === ClientArch.efiX86Http) {
    return {
      kind: 'http',
      firmware: 'uefi-http-x64',
      file: url(t.files.efiX64),
      tftp: false,
      options: [httpVendorClass],
      proxyOptions: [httpVendorClass],
    };
  }
  if (arch === ClientArch.efiArm64Http) {
    return {
      kind: 'http',
      firmware: 'uefi-http-arm64',
      file: url(t.files.efiArm64),
      tftp: false,
      options: [httpVendorClass],
      proxyOptions: [httpVendorClass],
    };
  }
  return { kind: 'none', reason: `no HTTP boot file for client architecture ${arch ?? 'unknown'}` };
}

function pxeChoice(arch: number | undefined, t: BootTargets): BootChoice {
  const bios = (firmware: string, file: string): BootChoice => ({
    kind: 'tftp',
    firmware,
    file,
    tftp: true,
    options: [pxeVendorClass, pxeUseBootfile],
    proxyOptions: [pxeVendorClass, pxeUseBootfile],
  });
  // UEFI PXE in ProxyDHCP: no option 43, so the firmware asks the boot server on port 4011 for the
  // file (EDK2 classifies such an offer as "ProxyBinl" and sends PxeBcRetryBinlOffer's REQUEST to
  // siaddr:4011; pixiecore answers UEFI the same way, having found firmwares that ignore a
  // ProxyDHCP offer whose 43.6 bypasses discovery). Kiln answers that REQUEST with the file.
  const uefi = (firmware: string, file: string): BootChoice => ({
    kind: 'tftp',
    firmware,
    file,
    tftp: true,
    options: [pxeVendorClass, pxeUseBootfile],
    proxyOptions: [pxeVendorClass],
  });
  // No option 93 and no Arch in option 60: old BIOS PXE ROMs (PXE 2.0) send neither.
  if (arch === undefined || arch === ClientArch.x86Bios) return bios('bios-pxe', t.files.biosPxe);
  if (arch === ClientArch.efiX64 || arch === ClientArch.efiX64Alt) return uefi('uefi-pxe-x64', t.files.efiX64);
  if (arch === ClientArch.efiArm64) return uefi('uefi-pxe-arm64', t.files.efiArm64);
  return { kind: 'none', reason: `no PXE boot file for client architecture ${arch}` };
}
