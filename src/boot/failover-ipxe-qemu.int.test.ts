// iPXE fails over between controllers for real (docs/cluster.md, "One address
// for machines"): a SeaBIOS VM under QEMU (TCG) with its iPXE option ROM
// (e1000, Debian's ipxe-qemu) boots the chain script and the per-host script
// Kiln renders for two members, the first of which is dead: a TCP listener
// that resets every connection (so the attempts are counted). The VM must
// try the dead member first and then fetch each step from the live one.
// QEMU's user networking (slirp) in 10.107.2.0/24 (the installer kernel's
// case: 10.111.2.0/24) reaches both listeners on the host's loopback through
// .2; no namespace, bridge or tap. The second case boots a deployment's
// installer kernel, rendered at deploy by the dead member.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../inventory/host.js';
import type { Mac } from '../net/mac.js';
import { formatChainScript } from '../protocols/ipxe/script.js';
import { hasTool } from '../../test/support/netboot-bed.js';
import { stopChild } from '../../test/support/process.js';
import { renderHostScript } from './http/host-script.js';

const skip = !hasTool('qemu-system-x86_64')
  ? 'needs qemu-system-x86_64'
  : !existsSync('/usr/lib/ipxe/qemu/pxe-e1000.rom')
    ? "needs Debian's ipxe-qemu package (/usr/lib/ipxe/qemu/pxe-e1000.rom)"
    : false;
/** The whole VM run is bounded by this (the boot to the third request takes seconds under TCG). */
const VM_LIMIT_MS = 55_000;
const MAC = '52:54:00:10:7f:01';

const work = mkdtempSync(join(tmpdir(), 'kiln-failover-qemu-'));
const closers: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
  rmSync(work, { recursive: true, force: true });
});

const listen = async (s: Server | TcpServer): Promise<number> => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  closers.push(() => new Promise((r) => s.close(() => r())));
  return (s.address() as AddressInfo).port;
};

/** What the live member renders the per-host script from, and the kernel path the VM must fetch there. */
interface Case {
  host: Host;
  deployment: Parameters<typeof renderHostScript>[0]['deployment'];
  kernelPath: string;
}

/**
 * Boots the VM against [dead, live]; the live member renders each script as the dead one would (dead first).
 * Returns the paths the live member served, when, and the dead member's resets.
 */
async function bootThrough(
  make: (deadUrl: string) => Case,
  log: (s: string) => void,
  net: string,
): Promise<{ got: Array<{ at: number; path: string }>; deadHits: number[]; kernelPath: string }> {
  const gateway = `${net}.2`;
  // The dead member: accepts and resets, counting the attempts.
  const deadHits: number[] = [];
  const dead = createTcpServer((sock) => {
    deadHits.push(Date.now());
    sock.resetAndDestroy();
  });
  const deadUrl = `http://${gateway}:${await listen(dead)}`;
  const c = make(deadUrl);
  // The live member: serves what Kiln renders for a store of [dead, live], dead first (as the dead member would).
  const got: Array<{ at: number; path: string }> = [];
  let liveUrl = '';
  const live = createServer((req, res) => {
    const path = req.url ?? '';
    got.push({ at: Date.now(), path });
    const bases = [deadUrl, liveUrl];
    if (path === '/boot.ipxe')
      return void res.end(
        formatChainScript(
          bases.map((b) => `${b}/boot/host.ipxe`),
          2,
        ),
      );
    if (path.startsWith('/boot/host.ipxe?')) {
      const q = path.slice('/boot/host.ipxe'.length);
      const script = renderHostScript({
        host: c.host,
        deployment: c.deployment,
        query: { platform: 'pcbios', arch: 'x86_64' },
        baseUrl: deadUrl,
        baseUrls: bases,
        knownBaseUrls: bases,
        nodeImage: { arch: 'x86_64' },
        retry: {
          url: `${deadUrl}/boot/host.ipxe${q}`,
          delaySeconds: 2,
          alternates: [`${liveUrl}/boot/host.ipxe${q}`],
        },
        nodeImageArgs: '',
      }).script;
      return void res.end(script);
    }
    res.statusCode = 404;
    res.end('not here');
  });
  liveUrl = `http://${gateway}:${await listen(live)}`;

  const serialPath = join(work, `serial-${c.host.state}.log`);
  const started = Date.now();
  const vm = spawn(
    'qemu-system-x86_64',
    [
      '-accel',
      'tcg',
      '-m',
      '256',
      '-display',
      'none',
      '-monitor',
      'none',
      '-no-reboot',
      '-serial',
      `file:${serialPath}`,
      '-boot',
      'n',
      '-netdev',
      `user,id=n0,net=${net}.0/24,host=${gateway},bootfile=${liveUrl}/boot.ipxe`,
      '-device',
      `e1000,netdev=n0,mac=${MAC}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  vm.stderr!.on('data', (d) => (stderr += d));
  closers.push(() => stopChild(vm, 5000));
  const kernelFromLive = () => got.some((g) => g.path === c.kernelPath);
  try {
    while (Date.now() - started < VM_LIMIT_MS && vm.exitCode === null && !kernelFromLive())
      await new Promise((r) => setTimeout(r, 500));
  } finally {
    await stopChild(vm, 5000);
  }
  const serial = existsSync(serialPath) ? readFileSync(serialPath, 'latin1') : '';
  const paths = got.map((g) => g.path.split('?')[0]);
  log(
    `live member got ${paths.join(', ')} in ${Date.now() - started} ms; dead member reset ${deadHits.length} connections`,
  );
  assert.ok(
    kernelFromLive(),
    `no kernel request at the live member within ${VM_LIMIT_MS} ms; got ${paths.join(', ')}\n${stderr}\n${serial.slice(-2000)}`,
  );
  return { got, deadHits, kernelPath: c.kernelPath };
}

/** The per-host script and the kernel were each asked of the dead member first, then served by the live one. */
function assertFailedOver(r: Awaited<ReturnType<typeof bootThrough>>): void {
  const paths = r.got.map((g) => g.path.split('?')[0]);
  assert.deepEqual(paths.slice(0, 3), ['/boot.ipxe', '/boot/host.ipxe', r.kernelPath]);
  const chained = r.got.find((g) => g.path.startsWith('/boot/host.ipxe'))!;
  const kernel = r.got.find((g) => g.path === r.kernelPath)!;
  assert.ok(r.deadHits.filter((at) => at <= chained.at).length >= 1, 'the chain script tried the dead member first');
  assert.ok(
    r.deadHits.filter((at) => at > chained.at && at <= kernel.at).length >= 1,
    'the kernel was tried at the dead member first',
  );
  assert.match(chained.path, /mac=52(:|%3A)54(:|%3A)00(:|%3A)10(:|%3A)7f(:|%3A)01/i);
}

const baseHost: Host = {
  id: 'h1',
  name: 'node-failover',
  state: 'new',
  stateReason: null,
  failedStage: null,
  profile: null,
  firmware: 'bios',
  nics: [{ mac: MAC as Mac, name: null, boot: true }],
  tags: [],
  labels: {},
  facts: {},
  hardwareHash: null,
  needsAttention: false,
  bmc: null,
  version: 1,
  createdAt: '',
  updatedAt: '',
};

test(
  'iPXE under QEMU: the chain script and the node image move on from a dead controller to the next',
  { skip, timeout: 90_000 },
  async (t) => {
    const r = await bootThrough(
      () => ({ host: baseHost, deployment: null, kernelPath: '/boot/kiln/x86_64/vmlinuz' }),
      (s) => t.diagnostic(s),
      '10.107.2',
    );
    assertFailedOver(r);
  },
);

test(
  "iPXE under QEMU: a deployment's installer kernel, deployed through the dead controller, loads from the next",
  { skip, timeout: 90_000 },
  async (t) => {
    // The boot spec as the dead member rendered it at deploy: its own URL in the kernel, initrd and command line.
    const r = await bootThrough(
      (deadUrl) => ({
        host: { ...baseHost, state: 'deploying', profile: 'kiln-image' },
        deployment: {
          id: 'd1',
          profile: 'kiln-image',
          status: 'deploying',
          bootSpec: {
            kernel: `${deadUrl}/boot/installer/vmlinuz`,
            initrd: [`${deadUrl}/boot/installer/initrd.img`],
            cmdline: `kiln.url=${deadUrl} kiln.mode=install`,
          },
        },
        kernelPath: '/boot/installer/vmlinuz',
      }),
      (s) => t.diagnostic(s),
      '10.111.2',
    );
    assertFailedOver(r);
  },
);
