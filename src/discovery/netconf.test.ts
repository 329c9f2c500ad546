// The image writer's network configuration (node/agent/netconf.sh) under the
// busybox the node image ships, against written roots shaped like real
// images: a `kiln image build` root (systemd-networkd enabled), the measured
// Debian 12 ifupdown root (networkd installed but not enabled, NIC renamed
// ens3), NetworkManager, networkd not enabled, and Kiln's busybox test image.
// Every case binds the boot NIC by MAC, never by name, and enables the stack.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  chmodSync,
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
import { nodeScriptsDir } from './build-discovery-image.js';

const run = promisify(execFile);
const busybox = '/bin/busybox';
const agent = join(nodeScriptsDir, 'agent');
const skip = !existsSync(busybox) ? 'needs busybox' : false;
const bbWork = mkdtempSync(join(tmpdir(), 'kiln-bb-'));
after(() => rmSync(bbWork, { recursive: true, force: true }));

const busyboxPath = (): string => busyboxOnlyPath(bbWork);
const mac = '52:54:00:4b:22:09';
const work = mkdtempSync(join(tmpdir(), 'kiln-netconf-'));
after(() => rmSync(work, { recursive: true, force: true }));

function put(root: string, path: string, text = '', mode = 0o644): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  chmodSync(join(root, path), mode);
}

function link(root: string, path: string, target: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  symlinkSync(target, join(root, path));
}

/** A root with systemd (networkd shipped in /usr/lib/systemd) and the named extras. */
function root(name: string, extras: (r: string) => void): string {
  const r = join(work, name);
  put(r, 'usr/lib/systemd/systemd', '', 0o755);
  put(r, 'usr/lib/systemd/systemd-networkd', '', 0o755);
  put(r, 'usr/lib/systemd/system/systemd-networkd.service');
  put(r, 'usr/lib/systemd/system/systemd-networkd.socket');
  put(r, 'usr/lib/systemd/system/systemd-networkd-wait-online.service');
  extras(r);
  return r;
}

const wants = (unit: string) => `etc/systemd/system/multi-user.target.wants/${unit}`;

async function write(r: string, args: string[] = [mac, 'dhcp', '', '', '']): Promise<{ code: number; out: string }> {
  const script = `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/netconf.sh"; netconf_write "$@"`;
  try {
    const x = await run(busybox, ['sh', '-c', script, 'sh', r, ...args], {
      env: { PATH: busyboxPath(), KILN_LIB: agent, KILN_PROC: '/proc' },
      timeout: 20_000,
    });
    return { code: 0, out: x.stdout + x.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const read = (r: string, p: string) => readFileSync(join(r, p), 'utf8');
const body = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .join('|');

test('netconf: a kiln image build root (networkd enabled) gets a .network unit matched by MAC', { skip }, async () => {
  const r = root('networkd', (x) =>
    link(x, wants('systemd-networkd.service'), '/lib/systemd/system/systemd-networkd.service'),
  );
  const w = await write(r);
  assert.equal(w.code, 0, w.out);
  assert.match(w.out, /^network: systemd-networkd, 10-kiln.network for 52:54:00:4b:22:09 \(dhcp\)$/m);
  assert.equal(body(read(r, 'etc/systemd/network/10-kiln.network')), `[Match]|MACAddress=${mac}|[Network]|DHCP=yes`);
  assert.match(read(r, 'etc/kiln/network.env'), /^KILN_NET_MAC=52:54:00:4b:22:09$/m);
});

test(
  'netconf: the measured Debian 12 ifupdown root gets an ifupdown stanza bound to the MAC, not a networkd unit',
  { skip },
  async () => {
    const r = root('ifupdown', (x) => {
      put(x, 'usr/sbin/ifup', '', 0o755);
      put(x, 'sbin/dhclient', '', 0o755);
      put(x, 'usr/lib/systemd/system/networking.service');
      put(x, 'etc/network/interfaces', 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n');
    });
    const w = await write(r);
    assert.equal(w.code, 0, w.out);
    assert.match(w.out, /^network: ifupdown, kiln-boot = the NIC with MAC 52:54:00:4b:22:09 \(dhcp\)$/m);
    assert.equal(body(read(r, 'etc/network/interfaces.d/kiln')), `auto mac/${mac}=kiln-boot|iface kiln-boot inet dhcp`);
    assert.equal(
      existsSync(join(r, 'etc/systemd/network/10-kiln.network')),
      false,
      'no unit for a stack that does not run',
    );
    // networking.service was not enabled in this root: the writer enables it.
    assert.equal(readlinkSync(join(r, wants('networking.service'))), '/usr/lib/systemd/system/networking.service');
    assert.equal(
      read(r, 'etc/network/interfaces'),
      'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n',
    );
  },
);

test(
  'netconf: ifupdown without a sourced interfaces.d gets the stanza appended; static addresses; no file at all gets lo too',
  { skip },
  async () => {
    const r = root('ifupdown-static', (x) => {
      put(x, 'sbin/ifup', '', 0o755);
      link(x, wants('networking.service'), '/lib/systemd/system/networking.service');
    });
    const w = await write(r, [mac, 'static', '10.0.0.5/24', '10.0.0.1', '10.0.0.2 10.0.0.3']);
    assert.equal(w.code, 0, w.out);
    assert.equal(
      body(read(r, 'etc/network/interfaces')),
      `auto lo|iface lo inet loopback|auto mac/${mac}=kiln-boot|iface kiln-boot inet static|    address 10.0.0.5/24|    gateway 10.0.0.1|    dns-nameservers 10.0.0.2 10.0.0.3`,
    );
    assert.equal(existsSync(join(r, 'etc/network/interfaces.d/kiln')), false);
  },
);

test('netconf: ifupdown with DHCP but no DHCP client in the image fails with the reason', { skip }, async () => {
  const r = root('ifupdown-noclient', (x) => put(x, 'usr/sbin/ifup', '', 0o755));
  const w = await write(r);
  assert.notEqual(w.code, 0);
  assert.match(w.out, /runs ifupdown but has no DHCP client/);
});

test(
  'netconf: NetworkManager enabled wins over networkd; its keyfile is 0600 and bound to the MAC',
  { skip },
  async () => {
    const r = root('nm', (x) => {
      put(x, 'usr/sbin/NetworkManager', '', 0o755);
      put(x, 'usr/sbin/ifup', '', 0o755);
      link(x, wants('NetworkManager.service'), '/lib/systemd/system/NetworkManager.service');
      link(x, wants('systemd-networkd.service'), '/lib/systemd/system/systemd-networkd.service');
    });
    const w = await write(r, [mac, 'static', '10.0.0.5/24', '10.0.0.1', '10.0.0.2']);
    assert.equal(w.code, 0, w.out);
    assert.match(w.out, /^network: NetworkManager, connection kiln-boot/m);
    const f = 'etc/NetworkManager/system-connections/kiln-boot.nmconnection';
    assert.equal(statSync(join(r, f)).mode & 0o777, 0o600);
    assert.match(
      body(read(r, f)),
      new RegExp(
        `^\\[connection\\]\\|id=kiln-boot\\|uuid=[0-9a-f-]{36}\\|type=ethernet\\|autoconnect=true\\|autoconnect-priority=100\\|\\[ethernet\\]\\|mac-address=${mac}\\|\\[ipv4\\]\\|method=manual\\|address1=10.0.0.5/24,10.0.0.1\\|dns=10.0.0.2;\\|\\[ipv6\\]\\|method=auto$`,
      ),
    );
    assert.equal(existsSync(join(r, 'etc/systemd/network/10-kiln.network')), false);
  },
);

test('netconf: networkd installed but not enabled (and nothing else) is enabled by the writer', { skip }, async () => {
  const r = root('networkd-off', () => undefined);
  const w = await write(r);
  assert.equal(w.code, 0, w.out);
  assert.match(w.out, /systemd-networkd \(enabled by the writer\)/);
  assert.equal(
    readlinkSync(join(r, wants('systemd-networkd.service'))),
    '/usr/lib/systemd/system/systemd-networkd.service',
  );
  assert.equal(
    readlinkSync(join(r, 'etc/systemd/system/sockets.target.wants/systemd-networkd.socket')),
    '/usr/lib/systemd/system/systemd-networkd.socket',
  );
  assert.equal(
    readlinkSync(join(r, 'etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service')),
    '/usr/lib/systemd/system/systemd-networkd-wait-online.service',
  );
  assert.match(read(r, 'etc/systemd/network/10-kiln.network'), /^MACAddress=52:54:00:4b:22:09$/m);
});

test(
  'netconf: an image with none of the stacks (the busybox test image) gets network.env only, and says so',
  { skip },
  async () => {
    const r = join(work, 'bare');
    put(r, 'sbin/init', '', 0o755);
    const w = await write(r);
    assert.equal(w.code, 0, w.out);
    assert.match(w.out, /runs none of systemd-networkd, ifupdown or NetworkManager/);
    assert.equal(
      read(r, 'etc/kiln/network.env'),
      `KILN_NET_MAC=${mac}\nKILN_NET_MODE=dhcp\nKILN_NET_ADDRESS=\nKILN_NET_GATEWAY=\nKILN_NET_DNS=""\n`,
    );
    const none = await write(r, ['', 'dhcp', '', '', '']);
    assert.notEqual(none.code, 0);
    assert.match(none.out, /no boot MAC address known/);
  },
);
