// The image writer's machine_network (node/agent/netconf.sh) under the busybox
// the node image ships, on fake image roots shaped like real ones: it detects
// the stack the image runs and writes that stack's rendering of the plan
// (planMachine's), enabled, with the other stacks told to keep off; it refuses
// what the stack cannot do and what the image lacks, each with the reason.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxOnlyPath } from '../../test/support/busybox.js';
import { nodeScriptsDir } from '../discovery/build-discovery-image.js';
import type { MachineFacts } from './machine-facts.js';
import type { NetworkDescription } from './machine-schema.js';
import { planMachine, type MachinePlan } from './plan-machine.js';

const run = promisify(execFile);
const skip = !existsSync('/bin/busybox') ? 'needs busybox' : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-netwriter-'));
after(() => rmSync(work, { recursive: true, force: true }));

const macs = ['52:54:00:65:00:01', '52:54:00:65:00:02'];
const facts: MachineFacts = {
  known: true,
  disks: [],
  macs,
  bootMac: macs[0]!,
  reservedIp: '10.101.1.10',
  subnets: [{ cidr: '10.101.1.0/24', router: '10.101.1.1', dns: ['10.101.1.53'], ntp: ['10.101.1.1'] }],
};
const bonded: NetworkDescription = {
  interfaces: [
    { id: 'n0', boot: true },
    { id: 'n1', mac: macs[1]! },
  ],
  bonds: [{ id: 'bond0', mode: 'active-backup', members: ['n0', 'n1'], primary: 'n0' }],
  addressing: [{ link: 'bond0', addresses: ['reservation'], gateway: 'reservation' }],
};

function put(root: string, path: string, text = '', mode = 0o644): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text, { mode });
}
function link(root: string, path: string, target: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  symlinkSync(target, join(root, path));
}
const wants = (unit: string) => `etc/systemd/system/multi-user.target.wants/${unit}`;

let n = 0;
/** A Debian 12 root with systemd (networkd and udevd installed, networkd not enabled, timesyncd) and the extras. */
function root(extras: (r: string) => void): string {
  const r = join(work, `root${n++}`);
  for (const p of ['systemd', 'systemd-networkd', 'systemd-udevd', 'systemd-timesyncd'])
    put(r, `usr/lib/systemd/${p}`, '', 0o755);
  extras(r);
  return r;
}
/** The measured Debian 12 ifupdown image, with ifenslave and isc-dhcp-client. */
const ifupdownRoot = (more: (r: string) => void = () => undefined) =>
  root((r) => {
    put(r, 'usr/sbin/ifup', '', 0o755);
    put(r, 'sbin/dhclient', '', 0o755);
    put(r, 'etc/network/if-pre-up.d/ifenslave', '', 0o755);
    put(r, 'usr/lib/systemd/system/networking.service');
    put(r, 'etc/network/interfaces', 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n');
    link(r, 'etc/resolv.conf', '/run/systemd/resolve/stub-resolv.conf');
    more(r);
  });

async function write(r: string, plan: MachinePlan | object): Promise<{ code: number; out: string }> {
  const planFile = join(work, `plan${n++}.json`);
  writeFileSync(planFile, JSON.stringify({ layout: 'machine', network: { mode: 'machine' }, machine: plan }));
  const agent = join(nodeScriptsDir, 'agent');
  const script = `. ${agent}/lib.sh; . ${agent}/netconf.sh; PLAN=$(json_flatten < ${planFile}); plan_get() { printf '%s\\n' "$PLAN" | json_get "$1"; }; machine_network "$1"`;
  try {
    const x = await run('/bin/busybox', ['sh', '-c', script, 'sh', r], {
      env: { PATH: busyboxOnlyPath(work), KILN_LIB: agent },
      timeout: 30_000,
    });
    return { code: 0, out: x.stdout + x.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}
const read = (r: string, p: string) => readFileSync(join(r, p), 'utf8');
const plan = (network: NetworkDescription) => planMachine({ network }, facts);

test(
  'an ifupdown image gets the stanzas, the .link names, networking enabled, networkd kept off; not networkd units',
  { skip },
  async () => {
    const p = plan(bonded);
    const r = ifupdownRoot();
    const w = await write(r, p);
    assert.equal(w.code, 0, w.out);
    assert.match(w.out, /^network: ifupdown, \d+ files from the machine description \(NICs named by MAC\)$/m);
    const want = p.network!.ifupdown.files.find((f) => f.path === '/etc/network/interfaces.d/kiln')!.text;
    assert.equal(read(r, 'etc/network/interfaces.d/kiln'), want, 'byte for byte as rendered');
    assert.match(
      read(r, 'etc/systemd/network/10-kiln-n1.link'),
      /^PermanentMACAddress=52:54:00:65:00:02\n\n\[Link\]\nName=n1$/m,
    );
    assert.match(read(r, 'etc/systemd/network/00-kiln-unmanaged-nics.network'), /^Unmanaged=yes$/m);
    assert.equal(existsSync(join(r, 'etc/systemd/network/10-kiln-n0.network')), false, 'no networkd unit');
    assert.equal(existsSync(join(r, 'etc/NetworkManager')), false, 'no NetworkManager in the image: nothing for it');
    assert.equal(readlinkSync(join(r, wants('networking.service'))), '/usr/lib/systemd/system/networking.service');
    assert.equal(existsSync(join(r, wants('systemd-networkd.service'))), false, 'networkd stays disabled');
    // interfaces already sources interfaces.d/*: unchanged.
    assert.equal(
      read(r, 'etc/network/interfaces'),
      'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n',
    );
    assert.equal(read(r, 'etc/systemd/timesyncd.conf.d/10-kiln.conf').split('\n')[2], 'NTP=10.101.1.1');
    assert.equal(existsSync(join(r, 'etc/chrony')), false, 'no chrony in the image');
    // resolv.conf was a link to resolved's stub (resolved not enabled): replaced by a file, the link not followed.
    assert.equal(read(r, 'etc/resolv.conf').split('\n')[1], 'nameserver 10.101.1.53');
    assert.equal(statSync(join(r, 'etc/resolv.conf')).isFile(), true);
    assert.equal(read(r, 'etc/kiln/network.env'), 'KILN_NET_MODE=machine\n');
  },
);

test(
  'ifupdown without a sourced interfaces.d: the source line is appended; resolvconf keeps resolv.conf',
  { skip },
  async () => {
    const r = ifupdownRoot((x) => {
      put(x, 'etc/network/interfaces', 'auto lo\niface lo inet loopback\n');
      put(x, 'sbin/resolvconf', '', 0o755);
    });
    const w = await write(r, plan(bonded));
    assert.equal(w.code, 0, w.out);
    assert.equal(
      read(r, 'etc/network/interfaces'),
      'auto lo\niface lo inet loopback\n\n# Kiln: the machine description (interfaces.d/kiln).\nsource /etc/network/interfaces.d/kiln\n',
    );
    assert.equal(readlinkSync(join(r, 'etc/resolv.conf')), '/run/systemd/resolve/stub-resolv.conf');
  },
);

test(
  'a NetworkManager image gets 0600 keyfiles, NetworkManager enabled, networkd kept off; no ifupdown file',
  { skip },
  async () => {
    const r = root((x) => {
      put(x, 'usr/sbin/NetworkManager', '', 0o755);
      put(x, 'etc/chrony/chrony.conf');
    });
    const w = await write(r, plan(bonded));
    assert.equal(w.code, 0, w.out);
    assert.match(w.out, /^network: NetworkManager, \d+ files from the machine description/m);
    for (const id of ['n0', 'n1', 'bond0']) {
      const f = join(r, `etc/NetworkManager/system-connections/kiln-${id}.nmconnection`);
      assert.equal(statSync(f).mode & 0o777, 0o600, id);
    }
    assert.match(
      read(r, 'etc/NetworkManager/system-connections/kiln-n1.nmconnection'),
      /^mac-address=52:54:00:65:00:02$/m,
    );
    assert.match(read(r, 'etc/NetworkManager/system-connections/kiln-bond0.nmconnection'), /^primary=n0$/m);
    assert.equal(readlinkSync(join(r, wants('NetworkManager.service'))), '/lib/systemd/system/NetworkManager.service');
    assert.equal(existsSync(join(r, 'etc/network/interfaces.d/kiln')), false);
    assert.equal(existsSync(join(r, 'etc/NetworkManager/conf.d/10-kiln-unmanaged.conf')), false);
    assert.match(read(r, 'etc/systemd/network/00-kiln-unmanaged-links.network'), /^Name=n0 n1 bond0$/m);
    assert.equal(read(r, 'etc/chrony/sources.d/kiln.sources').split('\n')[1], 'server 10.101.1.1 iburst');
    assert.equal(existsSync(join(r, 'etc/resolv.conf')), false, 'NetworkManager writes DNS itself');
  },
);

test(
  'NetworkManager enabled wins over an enabled networkd; networkd enabled wins over ifupdown installed',
  { skip },
  async () => {
    const nm = root((x) => {
      put(x, 'usr/sbin/NetworkManager', '', 0o755);
      link(x, wants('NetworkManager.service'), '/lib/systemd/system/NetworkManager.service');
      link(x, wants('systemd-networkd.service'), '/lib/systemd/system/systemd-networkd.service');
    });
    assert.match((await write(nm, plan(bonded))).out, /^network: NetworkManager/m);
    const nd = ifupdownRoot((x) =>
      link(x, wants('systemd-networkd.service'), '/lib/systemd/system/systemd-networkd.service'),
    );
    const w = await write(nd, plan(bonded));
    assert.match(w.out, /^network: systemd-networkd, 4 units from the machine description$/m);
    assert.equal(existsSync(join(nd, 'etc/network/interfaces.d/kiln')), false);
  },
);

const refusals: Array<[string, () => string, NetworkDescription | 'old-plan', RegExp]> = [
  [
    'a bond on an ifupdown image without ifenslave',
    () => ifupdownRoot((x) => rmSync(join(x, 'etc/network/if-pre-up.d/ifenslave'))),
    bonded,
    /^the image runs ifupdown: bond "bond0" needs the ifenslave package in the image/m,
  ],
  [
    'DHCP on an ifupdown image without a DHCP client',
    () => ifupdownRoot((x) => rmSync(join(x, 'sbin/dhclient'))),
    { interfaces: [{ id: 'n0', boot: true }], addressing: [{ link: 'n0', dhcp: true }] },
    /"n0" asks for DHCP, and the image has no DHCP client ifupdown can run/,
  ],
  [
    'a NIC id in the kernel names on ifupdown',
    () => ifupdownRoot(),
    { interfaces: [{ id: 'eth0', boot: true }], addressing: [{ link: 'eth0', dhcp: true }] },
    /^the image runs ifupdown, which cannot do what the machine description asks: ifupdown images get each NIC named by its id .*"eth0"/m,
  ],
  [
    'an image without systemd-udevd to apply the names',
    () => ifupdownRoot((x) => rmSync(join(x, 'usr/lib/systemd/systemd-udevd'))),
    bonded,
    /no systemd-udevd to apply them/,
  ],
  [
    'an image with none of the stacks',
    () => {
      const r = join(work, `bare${n++}`);
      put(r, 'sbin/init', '', 0o755);
      return r;
    },
    bonded,
    /runs none of systemd-networkd, ifupdown or NetworkManager/,
  ],
  [
    'a plan kept before ifupdown was rendered',
    () => ifupdownRoot(),
    'old-plan',
    /rendered for systemd-networkd only .*: deploy the host again/,
  ],
];

for (const [name, mk, network, words] of refusals)
  test(`refused, nothing of the stack written: ${name}`, { skip }, async () => {
    const r = mk();
    const p =
      network === 'old-plan'
        ? { network: { files: plan(bonded).network!.files, resolvConf: '', macs } }
        : plan(network);
    const w = await write(r, p);
    assert.notEqual(w.code, 0, w.out);
    assert.match(w.out, words);
    assert.equal(existsSync(join(r, 'etc/network/interfaces.d/kiln')), false);
    assert.equal(existsSync(join(r, wants('networking.service'))), false);
  });
