// Interop: real DHCP clients (busybox udhcpc, ISC dhclient, Kea perfdhcp)
// against Kiln's DHCP server running as its own process inside a namespace.
// The clients run on the root end of the veth pair; every address is in
// 10.77.0.0/16 on that pair only, and the root end's MAC is changed only
// on the test's own veth.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, createNetns, type TestNetns } from '../../../test/support/netns.js';
import { defaultDhcpConfig, type DhcpConfig } from './dhcp-config.js';
import { readPcapUdp } from '../../protocols/pcap/reader.js';
import { decodeDhcp } from '../../protocols/dhcp4/packet.js';
import { summarizeDhcp } from '../../protocols/dhcp4/summarize.js';
import { startDhcpServerProcess, stopDhcpServerProcess } from '../../../test/support/dhcp-server-process.js';

const skip = !canUseNetns() ? 'needs root and iproute2 (network namespaces)' : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-dhcp-int-'));
const namespaces: TestNetns[] = [];
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs)
    if (p.exitCode === null && p.pid) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  for (const ns of namespaces) ns.remove();
  rmSync(work, { recursive: true, force: true });
});

const SERVER = '10.77.0.1';
function config(mode: DhcpConfig['subnets'][number]['mode'], pool: { start: string; end: string }): DhcpConfig {
  return {
    ...defaultDhcpConfig,
    enabled: true,
    serverAddress: SERVER,
    httpBase: `http://${SERVER}:8080`,
    subnets: [
      {
        cidr: '10.77.0.0/24',
        mode,
        pools: mode === 'full' ? [pool] : [],
        router: SERVER,
        dns: [SERVER],
        leaseSeconds: 600,
        attached: true,
        domainName: 'lab.test',
        ntp: [SERVER],
        mtu: 1400,
      },
      {
        cidr: '10.78.0.0/24',
        mode: 'full',
        pools: [{ start: '10.78.0.100', end: '10.78.0.250' }],
        router: '10.78.0.1',
        dns: [],
        leaseSeconds: 600,
        attached: false,
        relayed: true,
      },
    ],
  };
}

function setup(relay = false): TestNetns {
  const ns = createNetns('dh', '10.77.0.254/24', `${SERVER}/24`);
  namespaces.push(ns);
  // Inside the server's namespace only: limited broadcasts and the relay subnet go out of the veth.
  ns.exec('ip', ['route', 'add', 'default', 'dev', ns.nsIf]);
  if (relay) execFileSync('ip', ['addr', 'add', '10.78.0.1/24', 'dev', ns.hostIf]);
  return ns;
}

const startServer = (ns: TestNetns, cfg: DhcpConfig, db: string) => startDhcpServerProcess(ns, cfg, db, work, procs);
const stopServer = stopDhcpServerProcess;

/** Runs busybox udhcpc once on the root end; returns the env its script saw on "bound", or undefined. */
function udhcpc(iface: string, extra: string[] = []): Record<string, string> | undefined {
  const out = join(work, `udhcpc-${Date.now()}.env`);
  const script = join(work, 'udhcpc.sh');
  writeFileSync(script, `#!/bin/sh\n[ "$1" = bound ] && env > ${out}\nexit 0\n`, { mode: 0o755 });
  try {
    execFileSync(
      'busybox',
      ['udhcpc', '-i', iface, '-n', '-q', '-f', '-t', '3', '-T', '1', '-A', '1', '-s', script, ...extra],
      { timeout: 20_000, stdio: 'ignore' },
    );
  } catch {
    return undefined;
  }
  if (!existsSync(out)) return undefined;
  return Object.fromEntries(
    readFileSync(out, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

test(
  'udhcpc and dhclient get leases with router, DNS, domain, NTP and MTU in full mode; malformed datagrams do not stop the server',
  { skip, timeout: 120_000 },
  async () => {
    const ns = setup();
    const server = await startServer(
      ns,
      config('full', { start: '10.77.0.100', end: '10.77.0.150' }),
      join(work, 'full.sqlite'),
    );
    try {
      // Garbage over a real socket first: the server must drop it and keep serving.
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, '10.77.0.254', () => r()));
      for (const bytes of [Buffer.alloc(3), Buffer.alloc(400, 0xff), Buffer.from('not dhcp at all')])
        await new Promise((r) => s.send(bytes, 67, SERVER, r));
      s.close();
      const env = udhcpc(ns.hostIf);
      assert.ok(env, 'udhcpc got no lease');
      assert.equal(env.ip, '10.77.0.100');
      assert.equal(env.router, SERVER);
      assert.equal(env.dns, SERVER);
      assert.equal(env.subnet, '255.255.255.0');
      assert.equal(env.serverid, SERVER);
      assert.equal(env.domain, 'lab.test');
      assert.equal(env.ntpsrv, SERVER);
      assert.equal(env.mtu, '1400');

      const script = join(work, 'dhclient.sh');
      const dout = join(work, 'dhclient.env');
      writeFileSync(script, `#!/bin/sh\ncase "$reason" in BOUND|RENEW|REBOOT) env > ${dout};; esac\nexit 0\n`, {
        mode: 0o755,
      });
      execFileSync(
        'dhclient',
        ['-1', '-4', '-sf', script, '-lf', join(work, 'dhclient.leases'), '-pf', join(work, 'dhclient.pid'), ns.hostIf],
        { timeout: 40_000, stdio: 'ignore' },
      );
      const denv = readFileSync(dout, 'utf8');
      // Same MAC as udhcpc: dhclient gets the same address back.
      assert.match(denv, /^new_ip_address=10\.77\.0\.100$/m);
      assert.match(denv, /^new_routers=10\.77\.0\.1$/m);
      assert.match(denv, /^new_domain_name=lab\.test$/m);
      assert.match(denv, /^new_ntp_servers=10\.77\.0\.1$/m);
      assert.match(denv, /^new_interface_mtu=1400$/m);
      try {
        execFileSync('dhclient', ['-x', '-sf', script, '-pf', join(work, 'dhclient.pid'), ns.hostIf], {
          timeout: 10_000,
          stdio: 'ignore',
        });
      } catch {
        /* already gone */
      }
    } finally {
      await stopServer(server);
      ns.remove(); // each test's namespace goes before the next test creates one with the same addresses
    }
  },
);

test(
  'proxy mode: a PXE client gets an address-less offer with next-server, file and 60=PXEClient',
  { skip, timeout: 60_000 },
  async () => {
    const ns = setup();
    const server = await startServer(
      ns,
      config('proxy', { start: '0.0.0.0', end: '0.0.0.0' }),
      join(work, 'proxy.sqlite'),
    );
    const pcap = join(work, 'proxy.pcap');
    const dump = ns.spawn('tcpdump', ['-i', ns.nsIf, '-U', '-c', '1', '-w', pcap, 'udp src port 67'], {
      stdio: 'ignore',
    });
    procs.push(dump);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      // udhcpc as a PXE ROM would identify itself; it gets no address (none is offered) and gives up.
      udhcpc(ns.hostIf, ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-t', '1']);
      await Promise.race([new Promise((r) => dump.once('exit', r)), new Promise((r) => setTimeout(r, 10_000))]);
      const [offer] = readPcapUdp(new Uint8Array(readFileSync(pcap)));
      assert.ok(offer, 'no reply captured');
      assert.match(
        summarizeDhcp(decodeDhcp(offer.payload)),
        /^DHCPOFFER xid=0x[0-9a-f]{8} mac=[0-9a-f:]{17} siaddr=10\.77\.0\.1 file="undionly\.kpxe" 54=10\.77\.0\.1 66="10\.77\.0\.1" 60="PXEClient" 43=\{6:08\}$/,
      );
    } finally {
      if (dump.exitCode === null && dump.pid) process.kill(dump.pid, 'SIGKILL');
      await stopServer(server);
      ns.remove(); // each test's namespace goes before the next test creates one with the same addresses
    }
  },
);

test(
  'perfdhcp drives relayed DORA exchanges (giaddr selects 10.78.0.0/24) without drops',
  { skip, timeout: 60_000 },
  async () => {
    const ns = setup(true);
    ns.exec('ip', ['route', 'add', '10.78.0.0/24', 'dev', ns.nsIf]);
    const server = await startServer(
      ns,
      config('full', { start: '10.77.0.100', end: '10.77.0.150' }),
      join(work, 'relay.sqlite'),
    );
    try {
      // perfdhcp acts as a relay: giaddr = its local address 10.78.0.1, replies come to port 67.
      const out = execFileSync(
        'perfdhcp',
        ['-4', '-l', '10.78.0.1', '-r', '50', '-n', '100', '-R', '100', '-W', '1000000', SERVER],
        { encoding: 'utf8', timeout: 40_000 },
      );
      const sent = Number(/DISCOVER-OFFER\*+\s+sent packets: (\d+)/.exec(out)?.[1]);
      const recv = Number(/REQUEST-ACK\*+\s+sent packets: \d+\s+received packets: (\d+)/.exec(out)?.[1]);
      // 100 ACKed clients while the attached pool has only 51 addresses: the relay's subnet (giaddr) was used.
      assert.equal(sent, 100, out);
      assert.equal(recv, 100, out);
    } finally {
      await stopServer(server);
      ns.remove(); // each test's namespace goes before the next test creates one with the same addresses
    }
  },
);

test(
  'a restarted server keeps its leases: the same MAC gets its address back, another MAC never gets it',
  { skip, timeout: 120_000 },
  async () => {
    const ns = setup();
    const db = join(work, 'restart.sqlite');
    const pool = { start: '10.77.0.200', end: '10.77.0.200' }; // one address, so a second MAC could only get this one
    const mac = (m: string) => execFileSync('ip', ['link', 'set', 'dev', ns.hostIf, 'address', m]);
    mac('52:54:00:77:00:01');
    let server = await startServer(ns, config('full', pool), db);
    assert.equal(udhcpc(ns.hostIf)?.ip, '10.77.0.200');
    await stopServer(server);
    server = await startServer(ns, config('full', pool), db);
    try {
      mac('52:54:00:77:00:02');
      assert.equal(udhcpc(ns.hostIf), undefined, 'another MAC got the leased address');
      mac('52:54:00:77:00:01');
      assert.equal(udhcpc(ns.hostIf)?.ip, '10.77.0.200');
    } finally {
      await stopServer(server);
      ns.remove(); // each test's namespace goes before the next test creates one with the same addresses
    }
  },
);
