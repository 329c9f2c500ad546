// decideDhcp in proxy mode, fed the requests real firmware sent (the pcaps
// under src/protocols/dhcp4/testdata), one case per firmware kind. Each case
// states what the firmware's own source requires of a ProxyDHCP reply
// (iPXE src/net/udp/dhcp.c; EDK2 NetworkPkg PxeBcDhcp4.c, HttpBootDhcp4.c).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { DhcpMessageType, DhcpOption } from '../../protocols/dhcp4/codes.js';
import {
  findOption,
  getMessageType,
  getSubOptions,
  getUserClasses,
  getVendorClass,
} from '../../protocols/dhcp4/options.js';
import { decodeDhcp, type DhcpPacket } from '../../protocols/dhcp4/packet.js';
import { summarizeDhcp } from '../../protocols/dhcp4/summarize.js';
import { readPcapUdp } from '../../protocols/pcap/reader.js';
import { defaultBootFiles } from '../boot-decision.js';
import type { DhcpSubnet } from './dhcp-config.js';
import { decideDhcp, type DhcpDecision, type DhcpRequestContext } from './decide-dhcp.js';

const testdata = new URL('../../protocols/dhcp4/testdata/', import.meta.url);
const packets = (name: string): DhcpPacket[] =>
  readPcapUdp(new Uint8Array(readFileSync(new URL(`${name}.pcap`, testdata)))).map((d) => decodeDhcp(d.payload));
/** The first client message of `type` in capture `name` whose option 60 starts with `vendor`. */
function captured(name: string, type: number, vendor: string, iPXE: boolean): DhcpPacket {
  const p = packets(name).find(
    (x) =>
      x.op === 1 &&
      getMessageType(x) === type &&
      (getVendorClass(x) ?? '').startsWith(vendor) &&
      getUserClasses(x).includes('iPXE') === iPXE,
  );
  assert.ok(p, `${name}.pcap has no such request`);
  return p;
}

const SERVER = '10.0.2.5';
const proxySubnet: DhcpSubnet = {
  cidr: '10.0.2.0/24',
  mode: 'proxy',
  pools: [],
  dns: [],
  leaseSeconds: 600,
  attached: true,
};
function decide(
  request: DhcpPacket,
  port: 'dhcp' | 'pxe' = 'dhcp',
  from = { address: '0.0.0.0', port: 68 },
): DhcpDecision {
  const ctx: DhcpRequestContext = {
    request,
    messageType: getMessageType(request)!,
    port,
    from,
    subnet: proxySubnet,
    serverAddress: SERVER,
    httpBase: `http://${SERVER}:8080`,
    bootFiles: defaultBootFiles,
    address: undefined,
    knownHost: false,
  };
  return decideDhcp(ctx);
}
const replied = (d: DhcpDecision) => {
  assert.equal(d.action, 'reply', d.action === 'ignore' ? d.reason : '');
  return d;
};
/** The reply's summary without the echoed xid and MAC, which come from the capture. */
const shape = (p: DhcpPacket) => summarizeDhcp(p).replace(/ xid=0x[0-9a-f]{8} mac=[0-9a-f:]{17}/, '');

const GUID = '97=6e6c694b-0000-0040-8000-000000000001';

test('proxy, SeaBIOS iPXE ROM DISCOVER: offer without address, siaddr, the script URL, 60=PXEClient, GUID echoed', () => {
  const req = captured('ipxe-bios', DhcpMessageType.discover, 'PXEClient', true);
  const d = replied(decide(req));
  // iPXE keeps an address-less offer as ProxyDHCP only with 60 "PXEClient"; with siaddr and a file it needs no 4011 round.
  assert.equal(
    shape(d.packet),
    `DHCPOFFER siaddr=${SERVER} file="http://${SERVER}:8080/boot.ipxe" 54=${SERVER} 60="PXEClient" ${GUID}`,
  );
  assert.deepEqual(d.to, { address: '255.255.255.255', port: 68 });
  assert.equal(d.bind, undefined, 'a proxy never binds a lease');
  // 175.176 (no-pxedhcp) is read only from an offer that carries an address: absent here.
  assert.equal(findOption(d.packet, DhcpOption.ipxeEncapsulated), undefined);
});

test('proxy, OVMF iPXE EFI ROM DISCOVER: the same script offer', () => {
  const req = captured('ipxe-efi', DhcpMessageType.discover, 'PXEClient', true);
  assert.equal(
    shape(replied(decide(req)).packet),
    `DHCPOFFER siaddr=${SERVER} file="http://${SERVER}:8080/boot.ipxe" 54=${SERVER} 60="PXEClient" ${GUID}`,
  );
});

test('proxy, OVMF PXEv4 DISCOVER: ipxe.efi by TFTP from siaddr, 60=PXEClient and no 43, so the firmware asks port 4011', () => {
  const req = captured('uefi-pxe-http', DhcpMessageType.discover, 'PXEClient', false);
  const d = replied(decide(req));
  // No 43: EDK2 classifies the offer ProxyBinl and sends a REQUEST to siaddr:4011 (PxeBcRetryBinlOffer).
  assert.equal(
    shape(d.packet),
    `DHCPOFFER flags=0x8000 siaddr=${SERVER} file="ipxe.efi" 54=${SERVER} 66="${SERVER}" 60="PXEClient" ${GUID}`,
  );
});

test('proxy, OVMF PXEv4 port-4011 REQUEST (captured in proxy mode): ACK to its source port 4011 with the file, siaddr and ciaddr', () => {
  // EDK2 sends it from its new address and port 4011 to siaddr:4011 and listens on 4011 (PxeBcDhcp4Discover).
  const wire = readPcapUdp(new Uint8Array(readFileSync(new URL('proxy-ovmf-pxe.pcap', testdata))));
  const bs = wire.find((d) => d.dstPort === 4011)!;
  const req = decodeDhcp(bs.payload);
  const d = replied(decide(req, 'pxe', { address: bs.src, port: bs.srcPort }));
  assert.equal(
    shape(d.packet),
    `DHCPACK ciaddr=${bs.src} siaddr=${SERVER} file="ipxe.efi" 54=${SERVER} 66="${SERVER}" 60="PXEClient" 97=6e6c694b-0000-0040-8000-0000000000b1`,
  );
  assert.deepEqual(d.to, { address: bs.src, port: 4011 });
});

test('proxy, OVMF HTTP boot DISCOVER: the ipxe.efi URL with 60=HTTPClient', () => {
  const req = captured('uefi-pxe-http', DhcpMessageType.discover, 'HTTPClient', false);
  // EDK2 keeps an address-less HTTPClient offer whose URL host is an address as "ProxyIpUri" (HttpBootDhcp4.c).
  assert.equal(
    shape(replied(decide(req)).packet),
    `DHCPOFFER flags=0x8000 siaddr=${SERVER} file="http://${SERVER}:8080/ipxe/ipxe.efi" 54=${SERVER} 60="HTTPClient" ${GUID}`,
  );
});

test('proxy, a BIOS PXE ROM (arch 0, no iPXE): undionly.kpxe with 43.6=8, booting the file without discovery', () => {
  const ipxe = captured('ipxe-bios', DhcpMessageType.discover, 'PXEClient', true);
  // The same request without user class iPXE is what a PXE 2.1 BIOS ROM sends.
  const req: DhcpPacket = {
    ...ipxe,
    options: ipxe.options.filter((o) => o.code !== DhcpOption.userClass && o.code !== DhcpOption.ipxeEncapsulated),
  };
  const d = replied(decide(req));
  assert.equal(
    shape(d.packet),
    `DHCPOFFER siaddr=${SERVER} file="undionly.kpxe" 54=${SERVER} 66="${SERVER}" 60="PXEClient" 43={6:08} ${GUID}`,
  );
  assert.deepEqual(
    getSubOptions(d.packet, DhcpOption.vendorSpecific).map((s) => [s.code, [...s.data]]),
    [[6, [8]]],
  );
});

test('proxy: every captured network-boot DISCOVER gets an offer with no address, a non-zero siaddr, 54, a file and a matching 60', () => {
  let n = 0;
  for (const name of ['ipxe-bios', 'ipxe-efi', 'uefi-pxe-http']) {
    for (const req of packets(name).filter((p) => p.op === 1 && getMessageType(p) === DhcpMessageType.discover)) {
      const d = replied(decide(req));
      const p = d.packet;
      assert.equal(p.yiaddr, '0.0.0.0');
      assert.equal(p.siaddr, SERVER);
      assert.ok(p.file.length > 0);
      assert.equal(getMessageType(p), DhcpMessageType.offer);
      assert.deepEqual([...findOption(p, DhcpOption.serverIdentifier)!], SERVER.split('.').map(Number));
      const want =
        (getVendorClass(req) ?? '').startsWith('HTTPClient') && !getUserClasses(req).includes('iPXE')
          ? 'HTTPClient'
          : 'PXEClient';
      assert.equal(getVendorClass(p), want, summarizeDhcp(req));
      assert.deepEqual(findOption(p, DhcpOption.clientMachineId), findOption(req, DhcpOption.clientMachineId));
      n++;
    }
  }
  assert.ok(n >= 6, `only ${n} DISCOVERs in the captures`);
});

test('proxy: a malformed option 97 is not echoed; a DHCP REQUEST on 67 and a plain client get nothing', () => {
  const disc = captured('uefi-pxe-http', DhcpMessageType.discover, 'PXEClient', false);
  const bad: DhcpPacket = {
    ...disc,
    options: disc.options.map((o) =>
      o.code === DhcpOption.clientMachineId ? { code: o.code, data: Uint8Array.of(1, 2, 3) } : o,
    ),
  };
  assert.equal(findOption(replied(decide(bad)).packet, DhcpOption.clientMachineId), undefined);
  const req = captured('ipxe-bios', DhcpMessageType.request, 'PXEClient', true);
  assert.deepEqual(decide(req), { action: 'ignore', reason: 'proxy: the site DHCP server answers this' });
  const plain: DhcpPacket = {
    ...disc,
    options: disc.options.filter(
      (o) => o.code !== DhcpOption.vendorClassIdentifier && o.code !== DhcpOption.clientSystemArchitecture,
    ),
  };
  assert.equal(decide(plain).action, 'ignore');
});

// Golden: the proxy-mode QEMU test's captures (netboot-proxy-qemu.int.test.ts; real
// firmware beside dnsmasq, Kiln at 10.84.1.1). Every request Kiln answered there
// gets today the reply that was on the wire and that booted the firmware; every
// request it left alone is still ignored.
const PROXY_SERVER = '10.84.1.1';
for (const name of ['proxy-bios-ipxe', 'proxy-ovmf-ipxe', 'proxy-ovmf-pxe', 'proxy-ovmf-http']) {
  test(`proxy golden: ${name}.pcap: Kiln's decisions for the captured requests are the replies that booted the firmware`, () => {
    const wire = readPcapUdp(new Uint8Array(readFileSync(new URL(`${name}.pcap`, testdata)))).map((d) => ({
      ...d,
      p: decodeDhcp(d.payload),
    }));
    let answered = 0;
    for (const req of wire.filter((w) => w.p.op === 1)) {
      const port = req.dstPort === 4011 ? ('pxe' as const) : ('dhcp' as const);
      const ctx: DhcpRequestContext = {
        request: req.p,
        messageType: getMessageType(req.p)!,
        port,
        from: { address: req.src, port: req.srcPort },
        subnet: { ...proxySubnet, cidr: '10.84.1.0/24' },
        serverAddress: PROXY_SERVER,
        httpBase: `http://${PROXY_SERVER}:8080`,
        bootFiles: defaultBootFiles,
        address: undefined,
        knownHost: false,
      };
      const d = decideDhcp(ctx);
      // The first reply Kiln sent after this request with its xid (retransmitted DISCOVERs each got one).
      const sent = wire.find((w) => w.index > req.index && w.src === PROXY_SERVER && w.p.xid === req.p.xid);
      const isAnswered =
        sent !== undefined &&
        wire.find((w) => w.index > req.index && w.p.xid === req.p.xid && (w.src === PROXY_SERVER || w.p.op === 1)) ===
          sent;
      if (!isAnswered) {
        assert.equal(d.action, 'ignore', `${name} #${req.index}: Kiln did not answer it on the wire`);
        continue;
      }
      const r = replied(d);
      assert.equal(summarizeDhcp(r.packet), summarizeDhcp(sent.p), `${name} #${req.index}`);
      assert.deepEqual(r.to, { address: sent.dst, port: sent.dstPort }, `${name} #${req.index}`);
      answered++;
    }
    assert.ok(answered >= 1, `${name}: no answered request`);
  });
}

// The class: any network-boot client, any architecture, with or without iPXE,
// GUID of any shape, relayed or not, on port 67 or 4011.
test('proxy property: every reply has no address, siaddr and 54 = Kiln, a file, a 60 matching the firmware, 43 only for BIOS PXE, 97 only when well-formed, and no lease options', () => {
  const lease = [
    DhcpOption.leaseTime,
    DhcpOption.subnetMask,
    DhcpOption.router,
    DhcpOption.domainNameServer,
    DhcpOption.renewalTime,
    DhcpOption.rebindingTime,
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(0, 6, 7, 9, 10, 11, 15, 16, 18, 19, 25, 99),
      fc.constantFrom('PXEClient', 'HTTPClient', 'udhcp 1.35'),
      fc.boolean(),
      fc.boolean(),
      fc.option(fc.uint8Array({ minLength: 0, maxLength: 20 }), { nil: undefined }),
      fc.constantFrom('0.0.0.0', '10.9.0.1'),
      fc.constantFrom('dhcp' as const, 'pxe' as const),
      (arch, vendor, iPXE, withArch, guid, giaddr, port) => {
        const options = [
          {
            code: DhcpOption.messageType,
            data: Uint8Array.of(port === 'dhcp' ? DhcpMessageType.discover : DhcpMessageType.request),
          },
          ...(withArch
            ? [{ code: DhcpOption.clientSystemArchitecture, data: Uint8Array.of(arch >> 8, arch & 0xff) }]
            : []),
          {
            code: DhcpOption.vendorClassIdentifier,
            data: new TextEncoder().encode(`${vendor}:Arch:${String(arch).padStart(5, '0')}:UNDI:003000`),
          },
          ...(iPXE ? [{ code: DhcpOption.userClass, data: new TextEncoder().encode('iPXE') }] : []),
          ...(guid ? [{ code: DhcpOption.clientMachineId, data: guid }] : []),
        ];
        const req: DhcpPacket = {
          op: 1,
          htype: 1,
          hlen: 6,
          hops: 0,
          xid: 7,
          secs: 0,
          flags: 0,
          ciaddr: port === 'pxe' ? '10.0.2.77' : '0.0.0.0',
          yiaddr: '0.0.0.0',
          siaddr: '0.0.0.0',
          giaddr,
          chaddr: Uint8Array.of(0x52, 0x54, 0, 1, 2, 3, ...new Array(10).fill(0)),
          sname: '',
          file: '',
          options,
        };
        const from =
          port === 'pxe'
            ? { address: '10.0.2.77', port: 4011 }
            : { address: giaddr === '0.0.0.0' ? '0.0.0.0' : giaddr, port: giaddr === '0.0.0.0' ? 68 : 67 };
        const d = decide(req, port, from);
        const netboot = iPXE || vendor !== 'udhcp 1.35';
        if (!netboot) {
          assert.equal(d.action, 'ignore');
          return;
        }
        if (d.action === 'ignore') {
          assert.match(d.reason, /architecture/);
          return;
        }
        const p = d.packet;
        assert.equal(p.yiaddr, '0.0.0.0');
        assert.equal(p.siaddr, SERVER);
        assert.ok(p.file.length > 0);
        assert.equal(getMessageType(p), port === 'dhcp' ? DhcpMessageType.offer : DhcpMessageType.ack);
        assert.deepEqual([...findOption(p, DhcpOption.serverIdentifier)!], SERVER.split('.').map(Number));
        const http = !iPXE && p.file.startsWith('http://');
        assert.equal(getVendorClass(p), http ? 'HTTPClient' : 'PXEClient');
        assert.equal(findOption(p, DhcpOption.vendorSpecific) !== undefined, p.file === 'undionly.kpxe');
        const wellFormed = guid !== undefined && guid.length === 17 && guid[0] === 0;
        assert.deepEqual(findOption(p, DhcpOption.clientMachineId), wellFormed ? guid : undefined);
        for (const code of lease) assert.equal(findOption(p, code), undefined, `option ${code} in a proxy reply`);
        assert.equal(d.bind, undefined);
        assert.deepEqual(
          d.to,
          port === 'pxe'
            ? from
            : giaddr !== '0.0.0.0'
              ? { address: giaddr, port: 67 }
              : { address: '255.255.255.255', port: 68 },
        );
      },
    ),
    { numRuns: 500 },
  );
});

test('option 7 (log server, RFC 2132 §3.9) names Kiln only with an address and only when syslog is on; a proxy reply never has it', () => {
  const discover = captured('ipxe-bios', DhcpMessageType.discover, 'PXEClient', true);
  const full = (logServer: boolean) =>
    decideDhcp({
      request: discover,
      messageType: DhcpMessageType.discover,
      port: 'dhcp',
      from: { address: '0.0.0.0', port: 68 },
      subnet: { ...proxySubnet, mode: 'full', pools: [{ start: '10.0.2.100', end: '10.0.2.200' }] },
      serverAddress: SERVER,
      httpBase: `http://${SERVER}:8080`,
      bootFiles: defaultBootFiles,
      address: '10.0.2.100',
      knownHost: false,
      logServer,
    });
  const on = replied(full(true));
  assert.ok(on.action === 'reply');
  assert.deepEqual([...(findOption(on.packet, DhcpOption.logServer) ?? [])], [10, 0, 2, 5]);
  const off = replied(full(false));
  assert.ok(off.action === 'reply');
  assert.equal(findOption(off.packet, DhcpOption.logServer), undefined);
  const proxy = replied(decideDhcp(proxyCtx(discover)));
  assert.ok(proxy.action === 'reply');
  assert.equal(findOption(proxy.packet, DhcpOption.logServer), undefined);
});

function proxyCtx(request: DhcpPacket): DhcpRequestContext {
  return {
    request,
    messageType: getMessageType(request)!,
    port: 'dhcp',
    from: { address: '0.0.0.0', port: 68 },
    subnet: proxySubnet,
    serverAddress: SERVER,
    httpBase: `http://${SERVER}:8080`,
    bootFiles: defaultBootFiles,
    address: undefined,
    knownHost: false,
    logServer: true,
  };
}

test('full mode: the options built once per subnet follow a new subnet object (a config reload), per server address, and per hostname', () => {
  const discover = captured('ipxe-bios', DhcpMessageType.discover, 'PXEClient', true);
  const subnet: DhcpSubnet = { ...proxySubnet, mode: 'full', pools: [{ start: '10.0.2.100', end: '10.0.2.200' }] };
  const offer = (s: DhcpSubnet, serverAddress: string, hostname?: string) => {
    const d = decideDhcp({
      request: discover,
      messageType: DhcpMessageType.discover,
      port: 'dhcp',
      from: { address: '0.0.0.0', port: 68 },
      subnet: s,
      serverAddress,
      httpBase: `http://${serverAddress}:8080`,
      bootFiles: defaultBootFiles,
      address: '10.0.2.100',
      knownHost: hostname !== undefined,
      hostname,
    });
    assert.ok(d.action === 'reply');
    return d.packet;
  };
  const uint = (p: DhcpPacket, code: number) => [...(findOption(p, code) ?? [])].reduce((n, b) => n * 256 + b, 0);
  const first = offer(subnet, SERVER, 'node-1');
  const again = offer(subnet, SERVER);
  assert.equal(uint(first, DhcpOption.leaseTime), 600);
  assert.equal(new TextDecoder().decode(findOption(first, DhcpOption.hostName)), 'node-1');
  assert.equal(findOption(again, DhcpOption.hostName), undefined, 'a hostname is not carried over to the next reply');
  const reloaded = offer({ ...subnet, leaseSeconds: 7200, router: '10.0.2.1', mtu: 9000 }, '10.0.2.6');
  assert.equal(uint(reloaded, DhcpOption.leaseTime), 7200);
  assert.equal(uint(reloaded, DhcpOption.renewalTime), 3600);
  assert.deepEqual([...(findOption(reloaded, DhcpOption.router) ?? [])], [10, 0, 2, 1]);
  assert.equal(uint(reloaded, DhcpOption.interfaceMtu), 9000);
  assert.deepEqual([...(findOption(reloaded, DhcpOption.serverIdentifier) ?? [])], [10, 0, 2, 6]);
  // The first subnet's replies are unchanged by the reload.
  assert.equal(uint(offer(subnet, SERVER), DhcpOption.leaseTime), 600);
  assert.equal(findOption(offer(subnet, SERVER), DhcpOption.router), undefined);
});
