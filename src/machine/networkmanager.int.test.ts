// The machine description's NetworkManager keyfiles under the real
// NetworkManager 1.42 daemon, in a network namespace this test makes (its own
// mount namespace: a private /run and /var/lib, /sys read-only so
// NetworkManager does not wait for udev, a D-Bus daemon of its own on the
// private /run). The NICs are veth ends under kernel-style names (enp0s3…):
// NetworkManager finds them by the keyfiles' mac-address alone. Proves: the
// NIC with the reservation's MAC gets its address, default route and DNS; a
// bridge takes the NIC matched by MAC as its port, with its MTU, and both of
// its addresses. Bonds and VLANs need kernel drivers this CI kernel lacks
// (not tested here). NetworkManager and the D-Bus daemon are stopped by PID.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, createNetns, type TestNetns } from '../../test/support/netns.js';
import type { MachineFacts } from './machine-facts.js';
import { planMachine } from './plan-machine.js';

const nmDir = '/opt/kiln-peers/network-manager/usr';
const skip = !canUseNetns()
  ? 'needs root for namespaces'
  : !existsSync(`${nmDir}/sbin/NetworkManager`) || !existsSync(`${nmDir}/bin/nmcli`)
    ? 'needs NetworkManager and nmcli unpacked by scripts/install-test-peers.sh'
    : !existsSync('/usr/bin/dbus-daemon')
      ? 'needs dbus-daemon'
      : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-nm-'));
let ns: TestNetns | undefined;
after(() => {
  ns?.remove();
  rmSync(work, { recursive: true, force: true });
});

const macs = ['02:65:02:00:00:01', '02:65:02:00:00:02'];
const facts: MachineFacts = {
  known: true,
  disks: [],
  macs,
  bootMac: macs[0]!,
  reservedIp: '10.101.50.2',
  subnets: [{ cidr: '10.101.50.0/24', router: '10.101.50.1', dns: ['10.101.50.53'] }],
};

const busConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/>
  </policy>
</busconfig>
`;

test(
  'NetworkManager brings up the rendered keyfiles on NICs it finds by MAC: an address with its route and DNS, a bridge over a NIC',
  { skip, timeout: 90_000 },
  () => {
    const plan = planMachine(
      {
        network: {
          interfaces: [
            { id: 'n0', boot: true },
            { id: 'n1', mac: macs[1]!, mtu: 1400 },
          ],
          bridges: [{ id: 'br0', members: ['n1'] }],
          addressing: [
            { link: 'n0', addresses: ['reservation'], gateway: 'reservation' },
            { link: 'br0', addresses: ['10.101.51.2/24', '10.101.52.2/24'] },
          ],
        },
      },
      facts,
    ).network!.networkManager;
    const conns = join(work, 'system-connections');
    mkdirSync(conns, { recursive: true });
    for (const f of plan.files.filter((x) => x.path.endsWith('.nmconnection')))
      writeFileSync(join(conns, f.path.split('/').pop()!), f.text, { mode: 0o600 });
    writeFileSync(join(work, 'bus.conf'), busConf);
    writeFileSync(
      join(work, 'nm.conf'),
      `[main]\nplugins=keyfile\nauth-polkit=false\nno-auto-default=*\nrc-manager=unmanaged\n[keyfile]\npath=${conns}\n[logging]\nlevel=INFO\n`,
    );
    ns = createNetns('nm', '10.101.0.5/30', '10.101.0.6/30');
    macs.forEach((mac, i) => {
      ns!.exec('ip', ['link', 'add', `enp0s${i + 3}`, 'address', mac, 'type', 'veth', 'peer', 'name', `peer${i}`]);
      ns!.exec('ip', ['link', 'set', `peer${i}`, 'up']);
    });
    const nmcli = `${nmDir}/bin/nmcli`;
    const script = [
      'exec 2>&1',
      'mount -o remount,ro /sys && mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib || exit 1',
      'mkdir -p /run/dbus /run/NetworkManager /var/lib/NetworkManager',
      `bus=$(dbus-daemon --config-file=${work}/bus.conf --fork --nopidfile --print-pid) || exit 1`,
      `${nmDir}/sbin/NetworkManager --no-daemon --config=${work}/nm.conf --state-file=/var/lib/NetworkManager/NetworkManager.state > ${work}/nm.log 2>&1 &`,
      'nm=$!',
      // Bounded wait: up to 30 s for both connections to be up.
      'i=0; while [ $i -lt 30 ]; do',
      `  s=$(${nmcli} -t -f DEVICE,STATE device 2>/dev/null)`,
      '  case "$s" in *"enp0s3:connected"*"br0:connected"*|*"br0:connected"*"enp0s3:connected"*) break ;; esac',
      '  sleep 1; i=$((i + 1))',
      'done',
      `echo "== devices"; ${nmcli} -t -f DEVICE,STATE,CONNECTION device`,
      'echo "== addr"; ip -j addr',
      'echo "== route"; ip route show default',
      'echo "== resolv"; cat /run/NetworkManager/resolv.conf',
      'kill $nm; wait $nm; kill $bus',
    ].join('\n');
    const out = ns.exec('sh', ['-c', script], 60_000);
    const part = (name: string) => out.split(`== ${name}\n`)[1]!.split('\n== ')[0]!;
    const log = () => `${out}\n${existsSync(join(work, 'nm.log')) ? readFileSync(join(work, 'nm.log'), 'utf8') : ''}`;
    assert.match(part('devices'), /^enp0s3:connected:kiln-n0$/m, log());
    assert.match(part('devices'), /^br0:connected:kiln-br0$/m, log());
    assert.match(part('devices'), /^enp0s4:connected:kiln-n1$/m, log());
    const links = JSON.parse(part('addr')) as Array<{
      ifname: string;
      mtu: number;
      master?: string;
      addr_info: Array<{ family: string; local: string; prefixlen: number }>;
    }>;
    const v4 = (dev: string) =>
      links
        .find((l) => l.ifname === dev)!
        .addr_info.filter((a) => a.family === 'inet')
        .map((a) => `${a.local}/${a.prefixlen}`)
        .sort();
    assert.deepEqual(v4('enp0s3'), ['10.101.50.2/24']);
    assert.deepEqual(v4('br0'), ['10.101.51.2/24', '10.101.52.2/24']);
    const port = links.find((l) => l.ifname === 'enp0s4')!;
    assert.equal(port.master, 'br0');
    assert.equal(port.mtu, 1400);
    assert.match(part('route'), /^default via 10\.101\.50\.1 dev enp0s3/m);
    assert.match(part('resolv'), /^nameserver 10\.101\.50\.53$/m);
  },
);
