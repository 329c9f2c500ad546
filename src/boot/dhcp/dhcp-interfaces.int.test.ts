// Interop: one Kiln DHCP server with two directly attached subnets, each bound
// to its interface (SO_BINDTODEVICE through native/bind-to-device). Kiln runs
// in its own namespace holding both veth ends; each busybox udhcpc runs in its
// own client namespace. That namespace has no default route, so a broadcast
// reply can only leave through a socket bound to a device. Addresses are in
// 10.81.0.0/16 on the test's own veths only.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, createNetns, type TestNetns } from '../../../test/support/netns.js';
import { defaultDhcpConfig, type DhcpConfig } from './dhcp-config.js';
import { startDhcpServerProcess, stopDhcpServerProcess } from '../../../test/support/dhcp-server-process.js';

const hasBusybox = (() => {
  try {
    execFileSync('busybox', ['udhcpc', '--help'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return (e as { status?: number }).status === 1;
  }
})();
const skip = !canUseNetns()
  ? 'needs root and iproute2 (network namespaces)'
  : !hasBusybox
    ? 'needs busybox with udhcpc (Debian busybox-static)'
    : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-dhcp-if-'));
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
  // Client namespaces first: deleting one deletes its veth pair, whose other end sits in the server namespace.
  for (const ns of namespaces.reverse()) ns.remove();
  rmSync(work, { recursive: true, force: true });
});

/** Server namespace plus one client namespace per subnet; the client veth's other end is moved into the server namespace. */
let setups = 0;
function setup(): { srv: TestNetns; a: TestNetns; b: TestNetns } {
  // Its own link to the root namespace stays unused; each setup takes its own /30 (beds of earlier tests stay until after()).
  const base = 252 - 4 * setups++;
  const srv = createNetns('ks', `10.81.9.${base + 2}/30`, `10.81.9.${base + 1}/30`);
  namespaces.push(srv);
  const client = (tag: string, serverCidr: string) => {
    const ns = createNetns(tag, serverCidr);
    namespaces.push(ns);
    execFileSync('ip', ['link', 'set', ns.hostIf, 'netns', srv.name]); // moving drops the address: set it again inside
    srv.exec('ip', ['addr', 'add', serverCidr, 'dev', ns.hostIf]);
    srv.exec('ip', ['link', 'set', ns.hostIf, 'up']);
    return ns;
  };
  return { srv, a: client('ca', '10.81.1.1/24'), b: client('cb', '10.81.2.1/24') };
}

function config(a: TestNetns, b: TestNetns): DhcpConfig {
  const subnet = (n: number, dev: string) => ({
    cidr: `10.81.${n}.0/24`,
    mode: 'full' as const,
    interface: dev,
    serverAddress: `10.81.${n}.1`,
    router: `10.81.${n}.1`,
    dns: [`10.81.${n}.1`],
    pools: [{ start: `10.81.${n}.100`, end: `10.81.${n}.110` }],
    leaseSeconds: 600,
    attached: false,
  });
  return {
    ...defaultDhcpConfig,
    enabled: true,
    serverAddress: '10.81.1.1',
    httpBase: 'http://10.81.1.1:8080',
    subnets: [subnet(1, a.hostIf), subnet(2, b.hostIf)],
  };
}

const startServer = (ns: TestNetns, cfg: DhcpConfig, db: string) => startDhcpServerProcess(ns, cfg, db, work, procs);
const stopServer = stopDhcpServerProcess;

/** Runs busybox udhcpc once inside the client namespace; returns the env its script saw on "bound", or undefined. */
function udhcpc(ns: TestNetns): Record<string, string> | undefined {
  const out = join(work, `udhcpc-${ns.name}.env`);
  const script = join(work, 'udhcpc.sh');
  writeFileSync(script, `#!/bin/sh\n[ "$1" = bound ] && env > "$KILN_OUT"\nexit 0\n`, { mode: 0o755 });
  try {
    execFileSync(
      'ip',
      [
        'netns',
        'exec',
        ns.name,
        'env',
        `KILN_OUT=${out}`,
        'busybox',
        'udhcpc',
        '-i',
        ns.nsIf,
        '-n',
        '-q',
        '-f',
        '-t',
        '4',
        '-T',
        '1',
        '-A',
        '1',
        '-s',
        script,
      ],
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
  'two interfaces: each udhcpc gets an address, router and server id from the subnet of the interface it broadcast on',
  { skip, timeout: 120_000 },
  async () => {
    const { srv, a, b } = setup();
    const server = await startServer(srv, config(a, b), join(work, 'two.sqlite'));
    try {
      // B first: with the old single-socket behaviour the first client would land in the first (or attached) subnet.
      const envB = udhcpc(b);
      const envA = udhcpc(a);
      assert.ok(envB, 'client B got no lease');
      assert.ok(envA, 'client A got no lease');
      assert.deepEqual(
        [envA.ip, envA.router, envA.serverid, envA.subnet],
        ['10.81.1.100', '10.81.1.1', '10.81.1.1', '255.255.255.0'],
      );
      assert.deepEqual(
        [envB.ip, envB.router, envB.serverid, envB.subnet],
        ['10.81.2.100', '10.81.2.1', '10.81.2.1', '255.255.255.0'],
      );
    } finally {
      await stopServer(server);
    }
  },
);

test(
  'an interface that does not exist stops startup with config_invalid naming the setting',
  { skip, timeout: 60_000 },
  async () => {
    const { srv, a, b } = setup();
    const cfg = config(a, b);
    cfg.subnets[1] = { ...cfg.subnets[1], interface: 'kilnnope0' };
    await assert.rejects(
      startServer(srv, cfg, join(work, 'bad.sqlite')),
      /dhcp\.subnets\.1\.interface: cannot bind the DHCP socket to interface "kilnnope0": no such interface/,
    );
  },
);

test(
  "the README example: attached subnets without interface:, two interfaces, no default route; udhcpc and dhclient get their leases, option 54 is the subnet's own address",
  { skip, timeout: 120_000 },
  async () => {
    const { srv, a, b } = setup();
    assert.doesNotMatch(srv.exec('ip', ['route', 'show', 'default']), /default/, 'the controller has no default route');
    // README style: cidr, mode, attached, pools, router, dns; no interface, no per-subnet serverAddress. The global
    // server address is the controller's "first" address, on a third network, as main derives it from the first NIC.
    const readme = (n: number) => ({
      cidr: `10.81.${n}.0/24`,
      mode: 'full' as const,
      attached: true,
      pools: [{ start: `10.81.${n}.100`, end: `10.81.${n}.110` }],
      router: `10.81.${n}.1`,
      dns: [`10.81.${n}.1`],
      leaseSeconds: 600,
    });
    const cfg = {
      ...defaultDhcpConfig,
      enabled: true,
      serverAddress: '10.81.9.254',
      httpBase: 'http://10.81.9.254:8080',
      subnets: [readme(1), readme(2)],
    } as DhcpConfig;
    const server = await startServer(srv, cfg, join(work, 'readme.sqlite'));
    try {
      // B first: the route table would pick neither interface for 255.255.255.255 (no default route).
      const envB = udhcpc(b);
      assert.ok(envB, 'udhcpc on the second interface got no lease');
      assert.deepEqual([envB.ip, envB.router, envB.serverid], ['10.81.2.100', '10.81.2.1', '10.81.2.1']);
      const script = join(work, 'dhclient-readme.sh');
      const dout = join(work, 'dhclient-readme.env');
      const pid = join(work, 'dhclient-readme.pid');
      writeFileSync(script, `#!/bin/sh\ncase "$reason" in BOUND|RENEW|REBOOT) env > ${dout};; esac\nexit 0\n`, {
        mode: 0o755,
      });
      try {
        a.exec(
          'dhclient',
          ['-1', '-4', '-sf', script, '-lf', join(work, 'dhclient-readme.leases'), '-pf', pid, a.nsIf],
          40_000,
        );
      } finally {
        try {
          a.exec('dhclient', ['-x', '-sf', script, '-pf', pid, a.nsIf], 10_000);
        } catch {
          /* not running */
        }
      }
      const denv = existsSync(dout) ? readFileSync(dout, 'utf8') : '';
      assert.match(denv, /^new_ip_address=10\.81\.1\.100$/m, 'dhclient on the first interface got its lease');
      assert.match(denv, /^new_dhcp_server_identifier=10\.81\.1\.1$/m);
    } finally {
      await stopServer(server);
    }
  },
);

test('a subnet neither attached nor declared relayed stops start-up naming it', { skip, timeout: 60_000 }, async () => {
  const { srv, a, b } = setup();
  const cfg = config(a, b);
  cfg.subnets.push({ cidr: '10.82.0.0/24', mode: 'full', pools: [], dns: [], leaseSeconds: 600, attached: false });
  await assert.rejects(
    startServer(srv, cfg, join(work, 'neither.sqlite')),
    /dhcp\.subnets\.2 \(10\.82\.0\.0\/24\) is neither attached .* nor declared relayed: true/,
  );
});

test(
  'a device re-created under a bound socket is re-opened and serves again; a device gone for good stops the server with one line, exit 6',
  { skip, timeout: 90_000 },
  async () => {
    const { srv, a, b } = setup();
    const readme = (n: number) => ({
      cidr: `10.81.${n}.0/24`,
      mode: 'full' as const,
      attached: true,
      pools: [{ start: `10.81.${n}.100`, end: `10.81.${n}.110` }],
      router: `10.81.${n}.1`,
      dns: [],
      leaseSeconds: 600,
    });
    const cfg = {
      ...defaultDhcpConfig,
      enabled: true,
      serverAddress: '10.81.9.254',
      httpBase: 'http://10.81.9.254:8080',
      subnets: [readme(1), readme(2)],
    } as DhcpConfig;
    const server = await startDhcpServerProcess(
      srv,
      cfg,
      join(work, 'reopen.sqlite'),
      work,
      procs, // Back-off long enough (about 12 s in all) that a loaded machine re-creates the device before the re-open gives up.
      { reopenDelaysMs: [200, 400, 800, 1600, 3200, 6000], deviceCheckMs: 100 },
    );
    let out = '';
    let err = '';
    server.stdout!.on('data', (d) => {
      out += d;
    });
    server.stderr!.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((r) => server.once('exit', (c) => r(c)));
    const until = async (what: () => boolean, ms: number) => {
      for (let t = 0; t < ms && !what(); t += 50) await new Promise((r) => setTimeout(r, 50));
    };
    try {
      assert.ok(udhcpc(b), 'first lease');
      // The bridge-rebuilt case: the device goes and comes back with a new index; the old socket would stay bound to the old one.
      srv.exec('ip', ['link', 'del', b.hostIf]);
      srv.exec('ip', ['link', 'add', b.hostIf, 'type', 'veth', 'peer', 'name', b.nsIf, 'netns', b.name]);
      srv.exec('ip', ['addr', 'add', '10.81.2.1/24', 'dev', b.hostIf]);
      srv.exec('ip', ['link', 'set', b.hostIf, 'up']);
      b.exec('ip', ['link', 'set', b.nsIf, 'up']);
      await until(() => out.includes(`socket reopened ${b.hostIf}:67`), 20_000);
      assert.match(out, new RegExp(`socket reopened ${b.hostIf}:67`));
      const again = udhcpc(b);
      assert.ok(again, 'lease after the device came back');
      assert.match(again.ip, /^10\.81\.2\.1\d\d$/, 'from the subnet of the re-created device (a new veth: a new MAC)');
      // Gone for good: the one fatal channel ends the server.
      srv.exec('ip', ['link', 'del', b.hostIf]);
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
      assert.equal(code, 6, `exit code (stderr: ${err})`);
      const lines = err.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, err);
      assert.match(
        lines[0],
        new RegExp(
          `^error: dhcp: the socket on ${b.hostIf} port 67 died \\(ENODEV\\) and could not be re-opened: .*\\[config_invalid\\]$`,
        ),
      );
    } finally {
      if (server.exitCode === null) await stopServer(server);
    }
    void a;
  },
);
