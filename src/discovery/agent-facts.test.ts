// Runs the agent's shell functions (node/agent/*.sh) under the same busybox
// the image ships, against a fake /proc, /sys and /dev tree, and checks that
// what they print is valid JSON with the right values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { nodeScriptsDir } from './build-discovery-image.js';

const agent = join(nodeScriptsDir, 'agent');
const busybox = '/bin/busybox';

function put(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

function link(root: string, path: string, target: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  symlinkSync(target, join(root, path));
}

function fakeTree(): string {
  const r = mkdtempSync(join(tmpdir(), 'kiln-facts-'));
  put(
    r,
    'proc/cmdline',
    'BOOT_IMAGE=x console=ttyS0 kiln.url=http://10.0.0.1:8080 kiln.mode=discover BOOTIF=01-52-54-00-AB-CD-EF\n',
  );
  put(
    r,
    'proc/cpuinfo',
    'processor\t: 0\nmodel name\t: Fancy "Quoted" CPU @ 2.0GHz\n\nprocessor\t: 1\nmodel name\t: Fancy "Quoted" CPU @ 2.0GHz\n',
  );
  put(r, 'proc/meminfo', 'MemTotal:         750000 kB\nMemFree:          700000 kB\n');
  put(r, 'sys/devices/system/memory/block_size_bytes', '8000000\n');
  for (const [i, s] of [
    [0, 'online'],
    [1, 'online'],
    [2, 'offline'],
  ] as const)
    put(r, `sys/devices/system/memory/memory${i}/state`, `${s}\n`);
  put(r, 'sys/class/net/lo/type', '772\n');
  put(r, 'sys/class/net/lo/address', '00:00:00:00:00:00\n');
  put(r, 'sys/class/net/eth0/type', '1\n');
  put(r, 'sys/class/net/eth0/address', '52:54:00:ab:cd:ef\n');
  put(r, 'sys/class/net/eth0/carrier', '1\n');
  put(r, 'sys/class/net/eth0/speed', '1000\n');
  link(r, 'sys/class/net/eth0/device/driver', '../../../bus/pci/drivers/virtio_net');
  put(r, 'sys/class/net/eth1/type', '1\n');
  put(r, 'sys/class/net/eth1/address', '52:54:00:00:00:02\n');
  put(r, 'sys/class/net/eth1/speed', '-1\n');
  put(r, 'sys/block/vda/size', '4194304\n');
  put(r, 'sys/block/vda/serial', 'SER\\IAL\t1\n');
  put(r, 'sys/block/vda/queue/rotational', '1\n');
  put(r, 'sys/block/vda/removable', '0\n');
  put(r, 'sys/block/loop0/size', '100\n');
  put(r, 'sys/block/nvme0n1/size', '2048\n');
  put(r, 'sys/block/nvme0n1/device/model', 'Samsung SSD 980   \n');
  put(r, 'sys/block/nvme0n1/queue/rotational', '0\n');
  put(r, 'sys/bus/pci/devices/0000:00:03.0/vendor', '0x1af4\n');
  put(r, 'sys/bus/pci/devices/0000:00:03.0/device', '0x1000\n');
  put(r, 'sys/bus/pci/devices/0000:00:03.0/class', '0x020000\n');
  link(r, 'sys/bus/pci/devices/0000:00:03.0/driver', '../../../bus/pci/drivers/virtio-pci');
  put(r, 'sys/class/dmi/id/sys_vendor', 'ACME "Servers" \\ Co\n');
  put(r, 'sys/class/dmi/id/product_serial', 'ABC\u0001123\n');
  put(r, 'sys/class/dmi/id/product_uuid', '4c4c4544-0000-1111-2222-333344445555\n');
  mkdirSync(join(r, 'dev'));
  writeFileSync(join(r, 'dev/ipmi0'), '');
  mkdirSync(join(r, 'bb'));
  execFileSync(busybox, ['--install', '-s', join(r, 'bb')]);
  return r;
}

function sh(root: string, script: string): string {
  return execFileSync(busybox, ['sh', '-c', `. ${agent}/lib.sh; . ${agent}/net.sh; . ${agent}/facts.sh; ${script}`], {
    encoding: 'utf8',
    env: {
      PATH: join(root, 'bb'),
      KILN_PROC: join(root, 'proc'),
      KILN_SYS: join(root, 'sys'),
      KILN_DEV: join(root, 'dev'),
      KILN_LIB: agent,
    },
  });
}

test('facts_json prints valid JSON with escaped strings and parsed values', () => {
  const root = fakeTree();
  try {
    // PATH holds only busybox applet links, as in the image.
    const facts = JSON.parse(sh(root, 'facts_json "$(boot_mac)"'));
    assert.equal(facts.bootMac, '52:54:00:ab:cd:ef');
    assert.equal(facts.firmware, 'bios');
    assert.deepEqual(facts.cpu, { model: 'Fancy "Quoted" CPU @ 2.0GHz', count: 2 });
    assert.deepEqual(facts.memory, { totalBytes: 750000 * 1024, installedBytes: 2 * 0x8000000 });
    assert.deepEqual(facts.nics, [
      { name: 'eth0', mac: '52:54:00:ab:cd:ef', driver: 'virtio_net', link: 'up', speedMbps: 1000 },
      { name: 'eth1', mac: '52:54:00:00:00:02', driver: '', link: 'unknown', speedMbps: null },
    ]);
    assert.deepEqual(facts.disks, [
      {
        name: 'nvme0n1',
        sizeBytes: 2048 * 512,
        model: 'Samsung SSD 980',
        serial: '',
        rotational: false,
        removable: false,
      },
      { name: 'vda', sizeBytes: 2 * 1024 ** 3, model: '', serial: 'SER\\IAL\t1', rotational: true, removable: false },
    ]);
    assert.deepEqual(facts.pci, [
      { slot: '0000:00:03.0', vendor: '1af4', device: '1000', class: '020000', driver: 'virtio-pci' },
    ]);
    assert.equal(facts.dmi.vendor, 'ACME "Servers" \\ Co');
    assert.equal(facts.dmi.serial, 'ABC\u0001123');
    assert.equal(facts.dmi.uuid, '4c4c4544-0000-1111-2222-333344445555');
    assert.equal(facts.dmi.product, '');
    assert.deepEqual(facts.bmc, { present: true, ipAddress: '', macAddress: '' });
    assert.equal(facts.lldp, null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('UEFI is detected from /sys/firmware/efi; kiln.mac= wins over BOOTIF', () => {
  const root = fakeTree();
  try {
    mkdirSync(join(root, 'sys/firmware/efi'), { recursive: true });
    assert.equal(sh(root, 'facts_firmware'), '"uefi"');
    put(root, 'proc/cmdline', 'kiln.mac=AA:BB:CC:DD:EE:FF BOOTIF=01-52-54-00-ab-cd-ef');
    assert.equal(sh(root, 'boot_mac'), 'aa:bb:cc:dd:ee:ff');
    assert.equal(sh(root, 'cmdline_get kiln.url'), '');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('json_str round-trips awkward strings through JSON.parse', () => {
  const root = fakeTree();
  try {
    for (const s of ['plain', 'a"b', 'back\\slash', 'tab\there', 'multi\nline', 'ctl\u0002x', 'ünïcödé', '']) {
      assert.equal(JSON.parse(sh(root, `json_str "$1"`.replace('$1', s.replace(/(["\\$`])/g, '\\$1')))), s.trim());
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('json-flatten.awk reads the controller answers, including escapes and nesting', () => {
  const flat = execFileSync(busybox, ['awk', '-f', join(agent, 'json-flatten.awk')], {
    input: JSON.stringify({
      hostId: 'h-1',
      credential: 'kn_x"y',
      image: { url: 'http://a/b', sha256: 'ab' },
      network: { dns: ['1.1.1.1', '9.9.9.9'] },
      n: 3,
      ok: true,
      z: null,
    }),
    encoding: 'utf8',
  });
  assert.deepEqual(flat.trim().split('\n'), [
    'hostId\th-1',
    'credential\tkn_x"y',
    'image.url\thttp://a/b',
    'image.sha256\tab',
    'network.dns.0\t1.1.1.1',
    'network.dns.1\t9.9.9.9',
    'n\t3',
    'ok\ttrue',
    'z\tnull',
  ]);
  assert.throws(() =>
    execFileSync(busybox, ['awk', '-f', join(agent, 'json-flatten.awk')], { input: '{"a":', stdio: 'pipe' }),
  );
});
