// The storm simulator's iPXE (fleet-ipxe.ts) on the scripts Kiln renders for
// two controllers: it moves on from a dead one exactly where the scripts say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatChainScript, formatKernelScript } from '../../src/protocols/ipxe/script.js';
import { runIpxeScript, type IpxeHost } from './fleet-ipxe.js';

const A = 'http://10.112.0.1:8080';
const B = 'http://10.112.1.1:8080';
const settings = { 'net0/mac': '52:54:01:00:00:07', uuid: 'u-7', buildarch: 'x86_64', platform: 'efi' };
const query = '?mac=52%3A54%3A01%3A00%3A00%3A07&uuid=u-7&arch=x86_64&platform=efi';

const hostScript = formatKernelScript(
  'discover',
  [A, B].map((base) => ({
    kernel: `${base}/boot/kiln/x86_64/vmlinuz`,
    initrds: [{ url: `${base}/boot/kiln/x86_64/initrd.img`, name: 'initrd.img' }],
    cmdline: `kiln.url=${base} kiln.urls=${A},${B} kiln.mode=discover`,
  })),
  { url: `${A}/boot/host.ipxe${query}`, delaySeconds: 5, alternates: [`${B}/boot/host.ipxe${query}`] },
);

/** A machine whose fetches from `dead` fail; every URL it asked for, in order. */
function machine(dead: string): IpxeHost & { asked: string[]; slept: number[] } {
  const asked: string[] = [];
  const slept: number[] = [];
  const fail = (url: string) => {
    asked.push(url);
    if (url.startsWith(dead)) throw new Error('ECONNREFUSED');
  };
  return {
    asked,
    slept,
    fetchScript: async (url) => (fail(url), hostScript),
    fetchImage: async (url) => fail(url),
    sleep: async (n) => void slept.push(n),
  };
}

test('fleet iPXE: the chain script and the node image move on from a dead controller to the next', async () => {
  const m = machine(A);
  const run = await runIpxeScript(
    m,
    `${A}/boot.ipxe`,
    formatChainScript([`${A}/boot/host.ipxe`, `${B}/boot/host.ipxe`], 5),
    settings,
  );
  assert.equal(run.kind, 'booted');
  assert.deepEqual(m.asked, [
    `${A}/boot/host.ipxe${query}`,
    `${B}/boot/host.ipxe${query}`,
    `${A}/boot/kiln/x86_64/vmlinuz`,
    `${B}/boot/kiln/x86_64/vmlinuz`,
    `${B}/boot/kiln/x86_64/initrd.img`,
  ]);
  assert.ok(run.kind === 'booted' && run.cmdline.includes(`kiln.url=${B}`), 'booted the kernel loaded from B');
  assert.deepEqual(m.slept, []);
});

test('fleet iPXE: with every controller dead the script sleeps and retries, and gives up within its command budget', async () => {
  const m = machine('http://');
  const run = await runIpxeScript(
    m,
    `${A}/boot.ipxe`,
    formatChainScript([`${A}/boot/host.ipxe`, `${B}/boot/host.ipxe`], 5),
    settings,
    30,
  );
  assert.equal(run.kind, 'failed');
  assert.ok(m.slept.length > 0 && m.slept.every((n) => n === 5), `slept ${m.slept.join(',')}`);
});

test('fleet iPXE: a command it does not know ends the run with its name', async () => {
  const run = await runIpxeScript(machine(''), `${A}/x.ipxe`, '#!ipxe\nsanboot --drive 0x80\n', settings);
  assert.deepEqual(run, { kind: 'failed', why: 'the simulated iPXE does not run "sanboot"' });
});
