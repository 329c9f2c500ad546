/**
 * DHCPv4 wire constants as `as const` tables: BOOTP op codes (RFC 2131 §2),
 * message types (RFC 2132 §9.6), option codes (RFC 2132 and the RFCs named
 * per line), client system architectures (RFC 4578 §2.1 and the IANA
 * "Processor Architecture Types" registry), and the sub-option codes of
 * options 43 (PXE spec 2.1 §2.4), 82 (RFC 3046 §2.0) and 175 (iPXE).
 * Use the name lookups for display.
 */

/** BOOTP `op` field (RFC 2131 §2). */
export const BootpOp = { request: 1, reply: 2 } as const;

/** The four bytes after the fixed header (RFC 2131 §3: 99.130.83.99). */
export const DHCP_MAGIC_COOKIE = 0x63825363;

/** Server and client ports (RFC 2131 §4.1); 4011 is the PXE boot server port (PXE spec 2.1 §2.2). */
export const DhcpPort = { server: 67, client: 68, pxe: 4011 } as const;

/** DHCP message types, option 53 (RFC 2132 §9.6). */
export const DhcpMessageType = {
  discover: 1,
  offer: 2,
  request: 3,
  decline: 4,
  ack: 5,
  nak: 6,
  release: 7,
  inform: 8,
} as const;

/** Option codes Kiln reads or writes. */
export const DhcpOption = {
  pad: 0, // RFC 2132 §3.1
  subnetMask: 1, // RFC 2132 §3.3
  router: 3, // RFC 2132 §3.5
  domainNameServer: 6, // RFC 2132 §3.8
  logServer: 7, // RFC 2132 §3.9 (MIT-LCS UDP log servers: syslog, port 514)
  hostName: 12, // RFC 2132 §3.14
  domainName: 15, // RFC 2132 §3.17
  interfaceMtu: 26, // RFC 2132 §5.1
  broadcastAddress: 28, // RFC 2132 §5.3
  ntpServers: 42, // RFC 2132 §8.3
  vendorSpecific: 43, // RFC 2132 §8.4; PXE sub-options: PXE spec 2.1 §2.4
  requestedIpAddress: 50, // RFC 2132 §9.1
  leaseTime: 51, // RFC 2132 §9.2
  optionOverload: 52, // RFC 2132 §9.3
  messageType: 53, // RFC 2132 §9.6
  serverIdentifier: 54, // RFC 2132 §9.7
  parameterRequestList: 55, // RFC 2132 §9.8
  message: 56, // RFC 2132 §9.9
  maxMessageSize: 57, // RFC 2132 §9.10
  renewalTime: 58, // RFC 2132 §9.11
  rebindingTime: 59, // RFC 2132 §9.12
  vendorClassIdentifier: 60, // RFC 2132 §9.13
  clientIdentifier: 61, // RFC 2132 §9.14
  tftpServerName: 66, // RFC 2132 §9.4
  bootfileName: 67, // RFC 2132 §9.5
  userClass: 77, // RFC 3004 §4
  relayAgentInformation: 82, // RFC 3046 §2.0
  clientSystemArchitecture: 93, // RFC 4578 §2.1
  clientNetworkInterfaceId: 94, // RFC 4578 §2.2
  clientMachineId: 97, // RFC 4578 §2.3 (UUID/GUID)
  ipxeEncapsulated: 175, // iPXE "encapsulated options" (ipxe.org/cfg)
  end: 255, // RFC 2132 §3.2
} as const;

/** Client system architecture types, option 93 (RFC 4578 §2.1; IANA registry for 10 and up). */
export const ClientArch = {
  x86Bios: 0,
  necPc98: 1,
  efiItanium: 2,
  decAlpha: 3,
  arcX86: 4,
  intelLeanClient: 5,
  efiIa32: 6,
  // RFC 4578 names 7 "EFI BC" and 9 "EFI x86-64", but its erratum 4570 and every
  // x64 UEFI firmware seen (OVMF, iPXE ipxe.efi) send 7 for x64; treat both as x64.
  efiX64: 7,
  efiXscale: 8,
  efiX64Alt: 9,
  efiArm32: 10,
  efiArm64: 11,
  efiX86Http: 15,
  efiX64Http: 16,
  efiBcHttp: 17,
  efiArm32Http: 18,
  efiArm64Http: 19,
  biosHttp: 20,
  ubootArm32: 21,
  ubootArm64: 22,
  efiRiscv32: 25,
  efiRiscv64: 27,
  efiRiscv64Http: 28,
  efiLoongarch64: 39,
  efiLoongarch64Http: 40,
  rpiboot: 41,
} as const;

/** PXE sub-options inside option 43 (PXE spec 2.1 §2.4, table 2-1). */
export const PxeSubOption = {
  mtftpIp: 1,
  mtftpClientPort: 2,
  mtftpServerPort: 3,
  mtftpTimeout: 4,
  mtftpDelay: 5,
  discoveryControl: 6,
  discoveryMcastAddr: 7,
  bootServers: 8,
  bootMenu: 9,
  menuPrompt: 10,
  bootItem: 71,
} as const;

/**
 * PXE discovery control bits, sub-option 6 (PXE spec 2.1 §2.4): bit 3 (value 8)
 * means "the boot file name in this offer is usable; download it without boot
 * server discovery".
 */
export const PxeDiscoveryControl = {
  disableBroadcast: 1,
  disableMulticast: 2,
  serverListOnly: 4,
  useBootfile: 8,
} as const;

/** iPXE settings inside option 175 (ipxe.org/cfg; src/include/ipxe/dhcp.h). */
export const IpxeSubOption = {
  priority: 1,
  keepSan: 8,
  skipSanBoot: 9,
  busId: 177,
  pxeext: 16,
  iscsi: 17,
  aoe: 18,
  http: 19,
  https: 20,
  tftp: 21,
  ftp: 22,
  dns: 23,
  bzimage: 24,
  multiboot: 25,
  slam: 26,
  srp: 27,
  nbi: 32,
  pxe: 33,
  elf: 34,
  comboot: 35,
  efi: 36,
  fcoe: 37,
  vlan: 38,
  menu: 39,
  sdi: 40,
  nfs: 41,
  // 176: "no-pxedhcp"; 1 makes iPXE skip waiting for ProxyDHCP offers.
  noPxedhcp: 176,
  version: 235,
} as const;

/** Vendor class prefixes (option 60) firmwares send (PXE spec 2.1 §2.4; UEFI 2.10 §24.7.2 for HTTP boot). */
export const VendorClassPrefix = { pxe: 'PXEClient', http: 'HTTPClient' } as const;

function invert(table: Record<string, number>): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [k, v] of Object.entries(table)) if (!(v in out)) out[v] = k;
  return out;
}

const messageTypeNames = invert(DhcpMessageType);
const archNames = invert(ClientArch);

/** Display name of a message type ("DISCOVER"), or "TYPE<n>" for an unknown one. */
export function dhcpMessageTypeName(t: number): string {
  return messageTypeNames[t]?.toUpperCase() ?? `TYPE${t}`;
}

/** camelCase name of a client architecture type, or `arch<n>` for an unknown one. */
export function clientArchName(arch: number): string {
  return archNames[arch] ?? `arch${arch}`;
}
