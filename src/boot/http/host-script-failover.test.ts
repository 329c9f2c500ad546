// Failover across the controllers of one store (docs/cluster.md, "One address
// for machines"): the chain script, the retry block and Kiln's node image
// carry every member's URL, this controller's first.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Host } from '../../inventory/host.js';
import type { Mac } from '../../net/mac.js';
import { parseIpxeScript } from '../../protocols/ipxe/parse-script.js';
import { formatChainScript } from '../../protocols/ipxe/script.js';
import { createHostScriptCache, renderHostScript, type HostScriptInput } from './host-script.js';

const a = 'http://10.107.0.1:8080';
const b = 'http://10.107.0.2:8080';
const c = 'http://10.107.0.3:8080';
const host = (state: Host['state']): Host => ({
  id: 'h1',
  name: 'node-1',
  state,
  stateReason: null,
  failedStage: null,
  profile: null,
  firmware: 'bios',
  nics: [{ mac: '52:54:00:12:34:56' as Mac, name: null, boot: true }],
  tags: [],
  labels: {},
  facts: {},
  hardwareHash: null,
  needsAttention: false,
  bmc: null,
  version: 1,
  createdAt: '',
  updatedAt: '',
});
const q = '/boot/host.ipxe?mac=52%3A54%3A00%3A12%3A34%3A56&platform=pcbios&arch=x86_64';
const input = (h: Host, bases: string[]): HostScriptInput => ({
  host: h,
  deployment: null,
  query: { platform: 'pcbios', arch: 'x86_64' },
  baseUrl: bases[0]!,
  ...(bases.length > 1 ? { baseUrls: bases } : {}),
  nodeImage: { arch: 'x86_64' },
  retry: { url: `${bases[0]}${q}`, delaySeconds: 10, alternates: bases.slice(1).map((u) => `${u}${q}`) },
  nodeImageArgs: 'console=ttyS0,115200',
});

describe('failover across controllers in iPXE scripts', () => {
  it('the chain script tries each controller in order, then waits and starts over', () => {
    const s = formatChainScript([`${a}/boot/host.ipxe`, `${b}/boot/host.ipxe`], 7);
    const lines = parseIpxeScript(s);
    const chain = lines.find((l) => l.commands[0]?.argv[0] === 'chain')!;
    assert.deepEqual(
      chain.commands.map((cmd) => (cmd.argv[0] === 'chain' ? cmd.argv.at(-1)!.split('?')[0] : cmd.argv.join(' '))),
      [`${a}/boot/host.ipxe`, `${b}/boot/host.ipxe`, 'goto failed'],
    );
    assert.deepEqual(
      chain.commands.map((cmd) => cmd.then),
      ['||', '||', null],
    );
    // One URL: the script is as before.
    assert.equal(formatChainScript(`${a}/boot/host.ipxe`, 7), formatChainScript([`${a}/boot/host.ipxe`], 7));
  });

  it('the discovery script loads the node image from each controller in turn, freeing what the failed one loaded', () => {
    const s = renderHostScript(input(host('new'), [a, b, c])).script;
    const lines = parseIpxeScript(s);
    const kernels = lines.filter((l) => l.commands[0]?.argv[0] === 'kernel');
    assert.deepEqual(
      kernels.map((l) => l.commands[0]!.argv[1]),
      [a, b, c].map((u) => `${u}/boot/kiln/x86_64/vmlinuz`),
    );
    // Each controller's kernel names itself as kiln.url and every controller as kiln.urls (for the agent).
    kernels.forEach((l, n) => {
      assert.ok(l.commands[0]!.argv.includes(`kiln.url=${[a, b, c][n]}`));
      assert.ok(l.commands[0]!.argv.includes(`kiln.urls=${a},${b},${c}`));
    });
    // A failing kernel, initrd or boot at controller n goes to the next (kiln_next_n), the last to the retry block.
    const gotos = lines
      .filter((l) => ['kernel', 'initrd', 'boot'].includes(l.commands[0]?.argv[0] ?? ''))
      .map((l) => l.commands.at(-1)!.argv.join(' '));
    assert.deepEqual(gotos, [
      ...Array(3).fill('goto kiln_next_1'),
      ...Array(3).fill('goto kiln_next_2'),
      ...Array(3).fill('goto failed'),
    ]);
    for (const n of [1, 2]) {
      const at = lines.findIndex((l) => l.label === `kiln_next_${n}`);
      assert.ok(at > 0, `label kiln_next_${n}`);
      assert.deepEqual(lines[at + 2]!.commands[0]!.argv, ['imgfree']);
      assert.equal(lines[at + 3]!.commands[0]!.argv[1], `${[a, b, c][n]}/boot/kiln/x86_64/vmlinuz`);
    }
    // The retry block chains this script at every controller.
    const retry = lines.filter((l) => l.commands[0]?.argv[0] === 'chain').at(-1)!;
    assert.deepEqual(
      retry.commands.map((cmd) => cmd.argv.at(-1)),
      [`${a}${q}`, `${b}${q}`, `${c}${q}`, 'failed'],
    );
    // Nothing expands on the machine: no `${` anywhere.
    assert.ok(!s.includes('${'));
  });

  it('one controller renders exactly the single-URL script; a URL with a comma is left out of the list', () => {
    const one = renderHostScript(input(host('new'), [a])).script;
    assert.ok(!one.includes('kiln_next') && !one.includes('kiln.urls='));
    const odd = renderHostScript(input(host('new'), [a, 'http://10.107.0.9:8080/x,y'])).script;
    assert.ok(!odd.includes('kiln_next') && !odd.includes('x,y/boot/kiln') && !odd.includes('kiln.urls='));
  });

  it('the script cache keys on the member URLs: a member joining or leaving renders anew', () => {
    const cache = createHostScriptCache();
    const first = cache.render(input(host('new'), [a]));
    assert.equal(cache.render(input(host('new'), [a])), first);
    const two = cache.render(input(host('new'), [a, b]));
    assert.notEqual(two.script, first.script);
    assert.ok(two.script.includes(`${b}/boot/kiln/x86_64/vmlinuz`));
    assert.equal(cache.size(), 2);
  });
});
