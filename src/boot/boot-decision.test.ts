import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideBoot, defaultBootFiles, type BootClient } from './boot-decision.js';
import { summarizeDhcp } from '../protocols/dhcp4/summarize.js';

const t = { httpBase: 'http://10.0.0.1:8080', files: defaultBootFiles };

// Options rendered as the codec's summary would show them, so cases read like the wire.
function optionsText(options: Array<{ code: number; data: Uint8Array }>): string {
  const p = {
    op: 2,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: new Uint8Array(16),
    sname: '',
    file: '',
    options,
  };
  return summarizeDhcp(p)
    .split(' ')
    .slice(2 + 1)
    .join(' ');
}

const cases: Array<{
  name: string;
  client: BootClient;
  kind: string;
  file?: string;
  tftp?: boolean;
  opts?: string;
  reason?: RegExp;
}> = [
  {
    name: 'BIOS PXE ROM (arch 0) gets undionly.kpxe over TFTP with 60=PXEClient and 43.6=8',
    client: { archs: [0], vendorClass: 'PXEClient:Arch:00000:UNDI:002001', userClasses: [] },
    kind: 'tftp',
    file: 'undionly.kpxe',
    tftp: true,
    opts: '60="PXEClient" 43={6:08}',
  },
  {
    name: 'old BIOS PXE ROM without option 93 or Arch is BIOS',
    client: { archs: [], vendorClass: 'PXEClient', userClasses: [] },
    kind: 'tftp',
    file: 'undionly.kpxe',
    tftp: true,
  },
  {
    name: 'UEFI x64 PXE (arch 7) gets ipxe.efi',
    client: { archs: [7], vendorClass: 'PXEClient:Arch:00007:UNDI:003016', userClasses: [] },
    kind: 'tftp',
    file: 'ipxe.efi',
    tftp: true,
  },
  {
    name: 'UEFI x64 PXE sending the RFC 4578 number 9 gets ipxe.efi',
    client: { archs: [9], vendorClass: 'PXEClient:Arch:00009:UNDI:003016', userClasses: [] },
    kind: 'tftp',
    file: 'ipxe.efi',
  },
  {
    name: 'arch read from option 60 when option 93 is missing',
    client: { archs: [], vendorClass: 'PXEClient:Arch:00007:UNDI:003016', userClasses: [] },
    kind: 'tftp',
    file: 'ipxe.efi',
  },
  {
    name: 'UEFI arm64 PXE (arch 11) gets the arm64 build',
    client: { archs: [11], vendorClass: 'PXEClient:Arch:00011:UNDI:003000', userClasses: [] },
    kind: 'tftp',
    file: 'ipxe-arm64.efi',
  },
  {
    name: 'UEFI x64 HTTP boot (arch 16) gets an http URL and 60=HTTPClient',
    client: { archs: [16], vendorClass: 'HTTPClient:Arch:00016:UNDI:003001', userClasses: [] },
    kind: 'http',
    file: 'http://10.0.0.1:8080/ipxe/ipxe.efi',
    tftp: false,
    opts: '60="HTTPClient"',
  },
  {
    name: 'UEFI arm64 HTTP boot (arch 19) gets the arm64 URL',
    client: { archs: [19], vendorClass: 'HTTPClient:Arch:00019:UNDI:003001', userClasses: [] },
    kind: 'http',
    file: 'http://10.0.0.1:8080/ipxe/ipxe-arm64.efi',
  },
  {
    name: 'iPXE (user class iPXE) gets the HTTP script, never iPXE again, with 175.176=1',
    client: { archs: [0], vendorClass: 'PXEClient:Arch:00000:UNDI:002001', userClasses: ['iPXE'] },
    kind: 'ipxe-script',
    file: 'http://10.0.0.1:8080/boot.ipxe',
    tftp: false,
    opts: '175={176:01}',
  },
  {
    name: 'iPXE EFI gets the same script',
    client: { archs: [7], vendorClass: 'PXEClient:Arch:00007:UNDI:003010', userClasses: ['iPXE'] },
    kind: 'ipxe-script',
    file: 'http://10.0.0.1:8080/boot.ipxe',
  },
  {
    name: 'a plain DHCP client is not booted',
    client: { archs: [], vendorClass: 'udhcp 1.35.0', userClasses: [] },
    kind: 'none',
    reason: /not a network-boot client/,
  },
  {
    name: 'a PXE arch Kiln has no build for is refused with the arch named',
    client: { archs: [6], vendorClass: 'PXEClient:Arch:00006', userClasses: [] },
    kind: 'none',
    reason: /architecture 6/,
  },
  {
    name: 'an HTTP arch Kiln has no build for is refused',
    client: { archs: [18], vendorClass: 'HTTPClient:Arch:00018', userClasses: [] },
    kind: 'none',
    reason: /HTTP boot file for client architecture 18/,
  },
];

for (const c of cases) {
  test(`decideBoot: ${c.name}`, () => {
    const got = decideBoot(c.client, t);
    assert.equal(got.kind, c.kind);
    if (got.kind === 'none') {
      assert.match(got.reason, c.reason!);
      return;
    }
    assert.equal(got.file, c.file);
    if (c.tftp !== undefined) assert.equal(got.tftp, c.tftp);
    if (c.opts !== undefined) assert.equal(optionsText(got.options), c.opts);
  });
}
