/**
 * Stable one-line text dumps of TFTP packets, for logs, the golden tests and
 * a debug decoder. The format is part of the golden files: change it only
 * with `UPDATE_GOLDEN=1` and a reviewed diff.
 */
import { tftpErrorName } from './codes.js';
import type { TftpOption, TftpPacket } from './packet.js';

function formatOptions(options: TftpOption[]): string {
  return options.map((o) => ` ${o.name}=${JSON.stringify(o.value)}`).join('');
}

/** Summarizes a packet as e.g. `RRQ "pxelinux.0" mode=octet blksize="1468"` or `DATA block=3 len=512`. */
export function summarizeTftp(packet: TftpPacket): string {
  switch (packet.op) {
    case 'rrq':
    case 'wrq':
      return `${packet.op.toUpperCase()} ${JSON.stringify(packet.filename)} mode=${JSON.stringify(packet.mode)}${formatOptions(packet.options)}`;
    case 'data':
      return `DATA block=${packet.block} len=${packet.data.length}`;
    case 'ack':
      return `ACK block=${packet.block}`;
    case 'error':
      return `ERROR code=${packet.code}(${tftpErrorName(packet.code)}) message=${JSON.stringify(packet.message)}`;
    case 'oack':
      return `OACK${formatOptions(packet.options)}`;
  }
}
