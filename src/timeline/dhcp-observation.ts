/**
 * A DHCP reply Kiln sent, as a timeline observation. Pure. The request's
 * signs say which stage asked: option 77 "iPXE" is iPXE's own DHCP; option 60
 * "PXEClient"/"HTTPClient" without it is the firmware (BIOS PXE ROM, UEFI PXE,
 * UEFI HTTP boot, told apart by option 93 or option 60's Arch); a request with
 * neither is the booted system's (udhcpc in the node image, an installer).
 */
import { DhcpMessageType } from '../protocols/dhcp4/codes.js';
import { clientArchName } from '../protocols/dhcp4/codes.js';
import { getClientArchs, getMessageType, getUserClasses, getVendorClass } from '../protocols/dhcp4/options.js';
import type { DhcpPacket } from '../protocols/dhcp4/packet.js';
import type { FirmwareKind, Observation } from './stage-model.js';

/** The client's architecture: option 93, else option 60's "Arch:NNNNN" (PXE spec 2.1 §2.4). */
function archOf(req: DhcpPacket, vendorClass: string): number | undefined {
  const archs = getClientArchs(req);
  if (archs.length > 0) return archs[0];
  const m = /:Arch:(\d{5})/.exec(vendorClass);
  return m ? Number(m[1]) : undefined;
}

/** Firmware kind from option 60 and the architecture (RFC 4578: 0 is BIOS; HTTPClient is UEFI HTTP boot). */
function firmwareOf(vendorClass: string, arch: number | undefined): FirmwareKind {
  if (vendorClass.startsWith('HTTPClient')) return 'uefi-http';
  if (vendorClass.startsWith('PXEClient')) return arch === 0 || arch === undefined ? 'bios' : 'uefi-pxe';
  return 'unknown';
}

/** The observation of one reply (OFFER or ACK; others give null) and the address the client has or gets. */
export function dhcpObservation(
  req: DhcpPacket,
  reply: DhcpPacket,
): { observation: Omit<Observation, 'at'>; ip: string | null } | null {
  const type = getMessageType(reply);
  if (type !== DhcpMessageType.offer && type !== DhcpMessageType.ack) return null;
  const vendorClass = getVendorClass(req) ?? '';
  const ipxe = getUserClasses(req).includes('iPXE');
  const arch = archOf(req, vendorClass);
  const firmware = firmwareOf(vendorClass, arch);
  const stage = ipxe ? 'ipxe-dhcp' : firmware !== 'unknown' ? 'dhcp' : 'os-dhcp';
  const ip = reply.yiaddr !== '0.0.0.0' ? reply.yiaddr : req.ciaddr !== '0.0.0.0' ? req.ciaddr : null;
  const what = type === DhcpMessageType.offer ? 'offer' : 'ack';
  const parts = [
    what,
    ip ? `address ${ip}` : 'no address (proxy)',
    ...(stage === 'dhcp' ? [`${firmware}${arch !== undefined ? ` ${clientArchName(arch)}` : ''}`] : []),
    ...(reply.file ? [`boot file ${reply.file.slice(0, 200)}`] : []),
  ];
  return {
    ip,
    observation: {
      stage,
      outcome: 'ok',
      ...(stage === 'dhcp' ? { firmware } : {}),
      ...(arch !== undefined ? { arch: clientArchName(arch) } : {}),
      detail: parts.join(', '),
    },
  };
}
