// Interop: the real systemd-networkd (Debian's systemd 252) as the DHCP client
// of Kiln's DHCP server, with the .network unit the image writer writes for a
// DHCP boot NIC (netconf_write in node/agent/netconf.sh, under busybox).
// systemd-networkd releases its lease when it stops (SendRelease= defaults to
// yes), so an installed system sends DHCPRELEASE at every shutdown, and it
// identifies itself with a DUID client identifier (option 61 type 255, RFC
// 4361) that iPXE and the installer do not send. The md/LVM e2e's VM came back
// from a power-off on the next pool address because a RELEASE deleted the
// lease; a known MAC must get its address back (RFC 2131 §4.3.1).
//
// Two namespaces this file creates: the server's (Kiln's DHCP server process
// on srv0, 10.102.3.1/24) and the client's (networkd on nic0, its own mount
// namespace from `ip netns exec`: the unit bind-mounted on /etc/systemd/network,
// a private /run/systemd, /sys read-only so networkd does not wait for udev),
// joined by one veth pair. Addresses: 10.102.2.0/24 on the server namespace's
// link to the root namespace (unused), 10.102.3.0/24 between the two.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { canUseNetns, createNetns, type TestNetns } from '../../../test/support/netns.js';
import { busyboxOnlyPath } from '../../../test/support/busybox.js';
import { startDhcpServerProcess, stopDhcpServerProcess } from '../../../test/support/dhcp-server-process.js';
import { killChild, stopChild } from '../../../test/support/process.js';
import { nodeScriptsDir } from '../../discovery/build-discovery-image.js';
import { defaultDhcpConfig, type DhcpConfig } from './dhcp-config.js';
import { readPcapUdp } from '../../protocols/pcap/reader.js';
import { decodeDhcp, macOf } from '../../protocols/dhcp4/packet.js';
import { summarizeDhcp } from '../../protocols/dhcp4/summarize.js';
import { findOption, getMessageType } from '../../protocols/dhcp4/options.js';
import { DhcpMessageType, DhcpOption } from '../../protocols/dhcp4/codes.js';

const networkd = ['/usr/lib/systemd/systemd-networkd', '/lib/systemd/systemd-networkd'].find((p) => existsSync(p));
const hasTool = (cmd: string): boolean => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const skip = !canUseNetns()
  ? 'needs root and iproute2 (network namespaces)'
  : !networkd
    ? 'needs systemd-networkd (the systemd package)'
    : !existsSync('/bin/busybox')
      ? 'needs busybox (the image writer runs under it)'
      : !hasTool('tcpdump')
        ? 'needs tcpdump'
        : false;

const work = mkdtempSync(join(tmpdir(), 'kiln-dhcp-networkd-'));
const MAC = '02:66:02:00:00:01';
const SERVER = '10.102.3.1';
const clientNs = `ktndc${process.pid % 100000}`;
let ns: TestNetns | undefined;
let clientNsMade = false;
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) killChild(p);
  if (clientNsMade) execFileSync('ip', ['netns', 'del', clientNs], { stdio: 'ignore' });
  ns?.remove();
  rmSync(work, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const config: DhcpConfig = {
  ...defaultDhcpConfig,
  enabled: true,
  serverAddress: SERVER,
  httpBase: `http://${SERVER}:8080`,
  subnets: [
    {
      cidr: '10.102.3.0/24',
      mode: 'full',
      pools: [{ start: '10.102.3.100', end: '10.102.3.110' }],
      router: SERVER,
      dns: [],
      leaseSeconds: 600,
      attached: true,
    },
  ],
};

/** The unit the image writer writes for a DHCP boot NIC into an image root that has networkd; returns its directory. */
function writerUnit(): string {
  const root = join(work, 'root');
  mkdirSync(join(root, 'usr/lib/systemd/system'), { recursive: true });
  writeFileSync(join(root, 'usr/lib/systemd/systemd-networkd'), '', { mode: 0o755 });
  const agent = join(nodeScriptsDir, 'agent');
  const out = execFileSync(
    '/bin/busybox',
    ['sh', '-c', `. ${agent}/lib.sh; . ${agent}/netconf.sh; netconf_write ${root} ${MAC} dhcp`],
    { env: { PATH: busyboxOnlyPath(work), KILN_LIB: agent }, encoding: 'utf8' },
  );
  assert.match(out, /network: systemd-networkd \(enabled by the writer\), 10-kiln\.network/);
  const unit = readFileSync(join(root, 'etc/systemd/network/10-kiln.network'), 'utf8');
  assert.match(unit, /^DHCP=yes$/m);
  assert.doesNotMatch(unit, /ClientIdentifier=|SendRelease=/, 'networkd defaults: DUID client id, RELEASE on stop');
  return join(root, 'etc/systemd/network');
}

/** systemd-networkd in the client namespace (the PID is networkd's: `ip netns exec` and `sh` exec it). */
function startNetworkd(units: string, log: string): ChildProcess {
  const script = [
    'mount -o remount,ro /sys',
    `mount --bind ${units} /etc/systemd/network`,
    'mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd',
    'mkdir -p /run/systemd/netif && chown systemd-network /run/systemd/netif 2>/dev/null',
    `SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console exec ${networkd} >${log} 2>&1`,
  ].join('\n');
  const p = spawn('ip', ['netns', 'exec', clientNs, 'sh', '-c', script], { stdio: 'ignore' });
  procs.push(p);
  return p;
}

/** The IPv4 address networkd put on nic0, polled every 250 ms for up to `ms`. */
async function addressOnNic(p: ChildProcess, ms: number, log: string): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = /inet (10\.102\.3\.\d+)\/24/.exec(
      execFileSync('ip', ['-n', clientNs, '-4', 'addr', 'show', 'nic0'], { encoding: 'utf8' }),
    );
    if (m) return m[1]!;
    if (p.exitCode !== null || Date.now() > deadline)
      throw new Error(`networkd got no address within ${ms} ms (exit ${p.exitCode}):\n${tail(log)}`);
    await sleep(250);
  }
}

const tail = (f: string): string => (existsSync(f) ? readFileSync(f, 'utf8').slice(-4000) : '(no log)');

/** The lease row of `ip` in the server's SQLite file, read by another connection (WAL). */
function leaseRow(db: string, ip: string): { mac: string; expires_at: number; state: string } | undefined {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return d.prepare('SELECT mac, expires_at, state FROM dhcp_leases WHERE ip = ?').get(ip) as
      { mac: string; expires_at: number; state: string } | undefined;
  } finally {
    d.close();
  }
}

test(
  "systemd-networkd with the writer's unit: it releases its lease when it stops (a shutdown), and when it starts again (the next boot) Kiln gives it the same address, whatever its DUID client identifier",
  { skip, timeout: 180_000 },
  async (t) => {
    const units = writerUnit();
    ns = createNetns('ndd', '10.102.2.254/24', '10.102.2.1/24');
    execFileSync('ip', ['netns', 'add', clientNs]);
    clientNsMade = true;
    ns.exec('ip', ['link', 'add', 'srv0', 'type', 'veth', 'peer', 'name', 'nic0', 'netns', clientNs]);
    ns.exec('ip', ['addr', 'add', `${SERVER}/24`, 'dev', 'srv0']);
    ns.exec('ip', ['link', 'set', 'srv0', 'up']);
    // Inside the server's namespace only: limited broadcasts leave by srv0.
    ns.exec('ip', ['route', 'add', 'default', 'dev', 'srv0']);
    execFileSync('ip', ['-n', clientNs, 'link', 'set', 'nic0', 'address', MAC]);
    execFileSync('ip', ['-n', clientNs, 'link', 'set', 'lo', 'up']);

    const pcap = join(work, 'dhcp.pcap');
    const dump = ns.spawn(
      'tcpdump',
      ['-i', 'srv0', '--immediate-mode', '-U', '-n', '-w', pcap, 'udp port 67 or udp port 68'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    procs.push(dump);
    let dumpErr = '';
    dump.stderr!.on('data', (d) => {
      dumpErr = (dumpErr + d).slice(-2000);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('tcpdump did not start listening in 20 s')), 20_000);
      dump.stderr!.on('data', (d) => {
        if (String(d).includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });

    const db = join(work, 'leases.sqlite');
    const server = await startDhcpServerProcess(ns, config, db, work, procs);
    let first: string | undefined;
    try {
      // First boot: networkd gets a lease.
      const log1 = join(work, 'networkd-1.log');
      let nd = startNetworkd(units, log1);
      first = await addressOnNic(nd, 60_000, log1);
      t.diagnostic(`first boot: ${first}`);
      assert.equal(leaseRow(db, first)?.mac, MAC);

      // Shutdown: networkd stops (SIGTERM, as systemd stops it) and releases the lease.
      await stopChild(nd, 20_000);
      assert.equal(nd.exitCode, 0, `networkd did not stop cleanly:\n${tail(log1)}`);
      const releasedBy = Date.now() + 10_000;
      let row = leaseRow(db, first);
      while (row && row.expires_at > Date.now() && Date.now() < releasedBy) {
        await sleep(200);
        row = leaseRow(db, first);
      }
      assert.ok(row && row.expires_at <= Date.now(), `the RELEASE did not end the lease: ${JSON.stringify(row)}`);
      assert.equal(row.mac, MAC, "the ended lease stays the MAC's previous binding");
      // The machine is off: its address is gone from the NIC, as after a power cycle. (The link stays up:
      // tcpdump on the peer stops capturing when the carrier drops.)
      execFileSync('ip', ['-n', clientNs, 'addr', 'flush', 'dev', 'nic0']);

      // Next boot: the same address.
      const log2 = join(work, 'networkd-2.log');
      nd = startNetworkd(units, log2);
      const second = await addressOnNic(nd, 60_000, log2);
      t.diagnostic(`next boot: ${second}`);
      assert.equal(second, first, 'a known MAC keeps its address across a RELEASE and a reboot');
      assert.ok((leaseRow(db, second)?.expires_at ?? 0) > Date.now());
      await stopChild(nd, 20_000);
    } finally {
      await stopDhcpServerProcess(server);
      await stopChild(dump, 5_000);
    }

    // On the wire: networkd's DISCOVERs carry a DUID client identifier; its RELEASE names the first address.
    const frames = readPcapUdp(new Uint8Array(readFileSync(pcap)));
    const packets = frames
      .map((d) => {
        try {
          return decodeDhcp(d.payload);
        } catch {
          return undefined;
        }
      })
      .filter((p) => p !== undefined && macOf(p) === MAC);
    const seen = packets.map((p) => summarizeDhcp(p!)).join('\n');
    t.diagnostic(`${frames.length} UDP frames captured on srv0; networkd's:\n${seen}`);
    const discovers = packets.filter((p) => getMessageType(p!) === DhcpMessageType.discover);
    assert.ok(discovers.length >= 2, `a DISCOVER per boot; captured:\n${seen}\n${dumpErr}`);
    for (const d of discovers) assert.equal(findOption(d!, DhcpOption.clientIdentifier)?.[0], 255, 'RFC 4361 type 255');
    const releases = packets.filter((p) => getMessageType(p!) === DhcpMessageType.release);
    // The first stop's RELEASE (the second stop's may come after the capture ends).
    assert.ok(releases.length >= 1, 'a RELEASE at the stop');
    for (const r of releases) assert.equal(r!.ciaddr, first);
  },
);
