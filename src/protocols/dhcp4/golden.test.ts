import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeDhcp, encodeDhcp } from './packet.js';
import { summarizeDhcp } from './summarize.js';
import { getClientArchs, getUserClasses, getVendorClass } from './options.js';
import { readPcapUdp } from '../pcap/reader.js';

const dir = new URL('./testdata/', import.meta.url);
const captures = [
  'ipxe-bios',
  'ipxe-efi',
  'uefi-pxe-http',
  'proxy-bios-ipxe',
  'proxy-ovmf-ipxe',
  'proxy-ovmf-pxe',
  'proxy-ovmf-http',
];
const read = (name: string) => readPcapUdp(new Uint8Array(readFileSync(new URL(`${name}.pcap`, dir))));

for (const name of captures) {
  test(`golden: ${name}.pcap decodes and summarizes as recorded`, () => {
    const text =
      read(name)
        .map(
          (d) =>
            `${String(d.index).padStart(3)} ${d.src}:${d.srcPort} > ${d.dst}:${d.dstPort} ${summarizeDhcp(decodeDhcp(d.payload))}`,
        )
        .join('\n') + '\n';
    const golden = new URL(`${name}.golden.txt`, dir);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, text);
    assert.equal(text, readFileSync(golden, 'utf8'));
  });

  test(`golden: ${name}.pcap packets round-trip value for value`, () => {
    for (const d of read(name)) {
      const p = decodeDhcp(d.payload);
      assert.deepEqual(decodeDhcp(encodeDhcp(p)), p, `packet ${d.index}`);
    }
  });
}

test('golden: the firmwares identify themselves as the boot decision expects', () => {
  const first = (name: string, vendorPrefix: string) =>
    read(name)
      .map((d) => decodeDhcp(d.payload))
      .find((p) => getVendorClass(p)?.startsWith(vendorPrefix))!;
  const bios = first('ipxe-bios', 'PXEClient');
  assert.deepEqual([getClientArchs(bios), getUserClasses(bios)], [[0], ['iPXE']]);
  const efiPxe = first('uefi-pxe-http', 'PXEClient');
  assert.deepEqual([getClientArchs(efiPxe), getUserClasses(efiPxe)], [[7], []]);
  const efiHttp = first('uefi-pxe-http', 'HTTPClient');
  assert.deepEqual(getClientArchs(efiHttp), [16]);
  assert.equal(getVendorClass(efiHttp), 'HTTPClient:Arch:00016:UNDI:003000');
});
