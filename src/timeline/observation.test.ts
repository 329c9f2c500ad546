// The mappings from what the servers see to timeline observations, fed real
// firmware DHCP captures (src/protocols/dhcp4/testdata) and the HTTP exchanges
// the boot routes and node API answer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DhcpMessageType } from '../protocols/dhcp4/codes.js';
import { getMessageType, getUserClasses, getVendorClass } from '../protocols/dhcp4/options.js';
import { decodeDhcp, type DhcpPacket } from '../protocols/dhcp4/packet.js';
import { readPcapUdp } from '../protocols/pcap/reader.js';
import { dhcpObservation } from './dhcp-observation.js';
import { httpObservation, type BootExchange } from './http-observation.js';

const testdata = new URL('../protocols/dhcp4/testdata/', import.meta.url);
const packets = (name: string): DhcpPacket[] =>
  readPcapUdp(new Uint8Array(readFileSync(new URL(`${name}.pcap`, testdata)))).map((d) => decodeDhcp(d.payload));

/** A client request of capture `name` (by option 60 prefix and iPXE) and the server's OFFER to it. */
function exchange(name: string, vendor: string, ipxe: boolean): { req: DhcpPacket; reply: DhcpPacket } {
  const all = packets(name);
  const req = all.find(
    (x) =>
      x.op === 1 &&
      getMessageType(x) === DhcpMessageType.discover &&
      (getVendorClass(x) ?? '').startsWith(vendor) &&
      getUserClasses(x).includes('iPXE') === ipxe,
  );
  assert.ok(req, `${name}: no such request`);
  const reply = all.find((x) => x.op === 2 && x.xid === req.xid);
  assert.ok(reply, `${name}: no reply to it`);
  return { req, reply };
}

test('DHCP: UEFI PXE and UEFI HTTP firmware, iPXE, and a booted system are told apart by their request', () => {
  const pxe = exchange('uefi-pxe-http', 'PXEClient', false);
  const p = dhcpObservation(pxe.req, pxe.reply);
  assert.equal(p?.observation.stage, 'dhcp');
  assert.equal(p?.observation.firmware, 'uefi-pxe');
  assert.match(p!.observation.detail, /^offer, /);
  const http = exchange('uefi-pxe-http', 'HTTPClient', false);
  assert.equal(dhcpObservation(http.req, http.reply)?.observation.firmware, 'uefi-http');
  const ipxe = exchange('ipxe-bios', 'PXEClient', true);
  const i = dhcpObservation(ipxe.req, ipxe.reply);
  assert.equal(i?.observation.stage, 'ipxe-dhcp');
  assert.equal(i?.observation.arch, 'x86Bios');
  // The same request with no PXE signs is the booted system's DHCP.
  const plain = { ...ipxe.req, options: ipxe.req.options.filter((o) => ![60, 77, 93, 94, 97, 175].includes(o.code)) };
  assert.equal(dhcpObservation(plain, ipxe.reply)?.observation.stage, 'os-dhcp');
  // Only OFFER and ACK are observations.
  const nak = { ...ipxe.reply, options: [{ code: 53, data: Uint8Array.of(DhcpMessageType.nak) }] };
  assert.equal(dhcpObservation(ipxe.req, nak), null);
});

const x = (over: Partial<BootExchange>): BootExchange => ({
  method: 'GET',
  route: 'unmatched',
  path: '/',
  status: 200,
  bytes: 100,
  seconds: 0.5,
  ip: '10.0.0.9',
  nodeHostId: null,
  session: undefined,
  body: undefined,
  ...over,
});

test('HTTP: boot files, kernels and initrds by name, their failures, and the chain script; HEAD probes are no stage', () => {
  assert.deepEqual(httpObservation(x({ path: '/ipxe/ipxe.efi', bytes: 1024 })), {
    target: { ip: '10.0.0.9' },
    observation: { stage: 'boot-file', outcome: 'ok', detail: '/ipxe/ipxe.efi over HTTP, 1024 bytes in 500 ms' },
  });
  assert.equal(httpObservation(x({ path: '/boot/kiln/x86_64/vmlinuz' }))?.observation.stage, 'kernel');
  assert.equal(httpObservation(x({ path: '/boot/profiles/debian-12/linux' }))?.observation.stage, 'kernel');
  assert.equal(httpObservation(x({ path: '/boot/kiln/x86_64/initrd.img' }))?.observation.stage, 'initrd');
  // debian-installer's netboot files as `kiln repo sync` publishes them (the initrd with Kiln's keyring).
  assert.equal(httpObservation(x({ path: '/repo/installer/debian-12/linux' }))?.observation.stage, 'kernel');
  assert.equal(httpObservation(x({ path: '/repo/installer/debian-12/initrd.gz' }))?.observation.stage, 'initrd');
  assert.equal(httpObservation(x({ path: '/repo/debian/dists/bookworm/Release' })), null, 'the mirror is no stage');
  assert.deepEqual(httpObservation(x({ path: '/boot/kiln/x86_64/vmlinuz', status: 404 }))?.observation, {
    stage: 'kernel',
    outcome: 'failed',
    final: false,
    detail: '/boot/kiln/x86_64/vmlinuz: HTTP 404 (not found)',
  });
  assert.equal(httpObservation(x({ path: '/boot/kiln/x86_64/vmlinuz', method: 'HEAD' })), null);
  assert.equal(httpObservation(x({ path: '/boot/host.ipxe' })), null, 'the boot service observes it');
  assert.equal(httpObservation(x({ path: '/boot.ipxe' }))?.observation.stage, 'ipxe-script');
  assert.equal(httpObservation(x({ path: '/api/v1/hosts' })), null);
});

test('HTTP: node API calls by credential, enrolment MAC or address, with the session the node names', () => {
  const node = (route: string, body: unknown, over: Partial<BootExchange> = {}) =>
    httpObservation(
      x({ method: 'POST', route: `/api/v1/node/${route}`, path: `/api/v1/node/${route}`, body, ...over }),
    );
  assert.deepEqual(node('discover', { facts: {} }, { session: '0123456789ab' }), {
    target: { ip: '10.0.0.9' },
    observation: { stage: 'facts', outcome: 'ok', detail: 'discovery report (facts)', session: '0123456789ab' },
  });
  assert.deepEqual(node('enrol', { mac: '52:54:00:AA:BB:01' })?.target, { mac: '52:54:00:aa:bb:01' });
  // A stateless node without its identity: the timeline shows it waiting for approval, by the MAC it names.
  const waiting = node('identity/request', { mac: '52:54:00:AA:BB:02', request: 'kr_x' });
  assert.deepEqual(waiting?.target, { mac: '52:54:00:aa:bb:02' });
  assert.match(waiting?.observation.detail ?? '', /waiting for approval/);
  assert.match(node('identity/claim', { mac: '52:54:00:aa:bb:02' })?.observation.detail ?? '', /waiting for approval/);
  const step = node('progress', { stage: 'partition', message: 'sda' }, { nodeHostId: 'h1' });
  assert.deepEqual(step?.target, { hostId: 'h1' });
  assert.equal(step?.observation.stage, 'install-step');
  assert.equal(step?.observation.detail, 'partition: sda');
  assert.equal(node('progress', { stage: 'installed' }, { nodeHostId: 'h1' })?.observation.stage, 'installed');
  // Kiln's image writer says how it starts the installed system; an unknown value is not passed on.
  assert.deepEqual(node('progress', { stage: 'installed', message: 'done', handoff: 'kexec' })?.observation, {
    stage: 'installed',
    outcome: 'ok',
    handoff: 'kexec',
    detail: 'installed (handoff kexec): done',
    session: undefined,
  });
  assert.equal(node('progress', { stage: 'installed', handoff: 'warp' })?.observation.handoff, undefined);
  assert.equal(node('progress', { stage: 'installed', handoff: 'warp' })?.observation.detail, 'installed');
  assert.deepEqual(node('failed', { stage: 'late', reason: 'exit 1' }, { nodeHostId: 'h1' })?.observation, {
    stage: 'install-step',
    outcome: 'failed',
    final: true,
    detail: 'late: exit 1',
    session: undefined,
  });
  assert.equal(node('complete', {}, { nodeHostId: 'h1' })?.observation.stage, 'first-boot');
  assert.equal(
    httpObservation(x({ route: '/api/v1/node/install/:token/:name', path: '/api/v1/node/install/tok/ks.cfg' }))
      ?.observation.detail,
    'ks.cfg fetched',
  );
});
