// Wake-on-LAN: the real driver runs inside a test namespace (whose only
// link is a veth pair) and broadcasts; tcpdump on the root end prints it in hex.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canUseNetns, createNetns, type TestNetns } from '../../../test/support/netns.js';
import { runPowerDriverConformance } from '../power-driver.conformance.js';
import { encodeMagicPacket } from './magic-packet.js';
import { createWolDriver } from './wol-driver.js';

const hasTcpdump = spawnSync('sh', ['-c', 'command -v tcpdump']).status === 0;
const skip = !hasTcpdump
  ? 'tcpdump not installed'
  : !canUseNetns()
    ? 'needs root and iproute2 to create a network namespace'
    : false;

/**
 * UDP payloads from `tcpdump -n -l -x` text: each packet is a header line
 * followed by `\t0x0000:  4500 0082 …` lines holding the IPv4 packet in hex.
 */
function udpPayloads(text: string): Buffer[] {
  const packets: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s+0x[0-9a-f]{4}:\s+((?:[0-9a-f]{2,4}\s?)+)/.exec(line);
    if (m) packets[packets.length - 1] += m[1].replace(/\s+/g, '');
    else if (/ IP /.test(line)) packets.push('');
  }
  return packets.map((hex) => {
    const ip = Buffer.from(hex, 'hex');
    return ip.subarray((ip[0] & 0x0f) * 4 + 8); // skip the IPv4 header (IHL words) and the 8-byte UDP header
  });
}

// The conformance suite on the WoL driver: only "on" is declared, everything
// else must be refused. Traffic goes to the namespace's veth subnet broadcast,
// sourced from the root end of the pair, so it never leaves the test's veth.
let ns: TestNetns | undefined;
runPowerDriverConformance({
  name: 'wol (veth broadcast)',
  skip,
  setup: async () => {
    ns = createNetns('wolc', '10.231.7.1/24', '10.231.7.2/24');
    const driver = createWolDriver({
      driver: 'wol',
      address: '52:54:00:12:34:56',
      options: { broadcast: '10.231.7.255', sourceAddress: '10.231.7.1', port: 9, repeat: 1 },
    });
    return { driver, cleanup: async () => ns?.remove() };
  },
});

describe('wake-on-LAN magic packet on the wire', { skip }, () => {
  let n: TestNetns;
  before(() => {
    n = createNetns('wol', '10.231.8.1/24', '10.231.8.2/24');
  });
  after(() => {
    n?.remove();
  });

  it('sends 102-byte magic packets to the subnet broadcast from inside the namespace', async () => {
    // Wait until both ends of the veth report carrier: a packet sent before that is dropped.
    const deadline = Date.now() + 10_000;
    while (!/LOWER_UP/.test(n.exec('ip', ['link', 'show', n.nsIf]))) {
      assert.ok(Date.now() < deadline, 'veth did not come up within 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const dump = spawn('tcpdump', ['-i', n.hostIf, '-n', '-l', '-x', 'udp and port 9'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let dumpErr = '';
    let dumpOut = '';
    dump.stdout.on('data', (d: Buffer) => {
      dumpOut += d.toString();
    });
    dump.stderr.on('data', (d: Buffer) => {
      dumpErr += d.toString();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('tcpdump did not start within 10 s')), 10_000);
        dump.stderr.on('data', () => {
          if (dumpErr.includes('listening on')) {
            clearTimeout(t);
            resolve();
          }
        });
        dump.once('exit', (c) => {
          clearTimeout(t);
          reject(new Error(`tcpdump exited ${c}: ${dumpErr}`));
        });
      });
      const repo = new URL('../../../', import.meta.url).pathname;
      n.exec(
        process.execPath,
        ['--import', 'tsx', join(repo, 'src/power/wol/testing/send-wol.ts'), 'AA-BB-CC-00-11-22', '10.231.8.255', '9'],
        30_000,
      );
      const until = Date.now() + 5000;
      while (udpPayloads(dumpOut).length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    } finally {
      const gone = new Promise((r) => dump.once('exit', r));
      if (dump.pid && dump.exitCode === null) process.kill(dump.pid, 'SIGINT');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (dump.pid && dump.exitCode === null && dump.signalCode === null) process.kill(dump.pid, 'SIGKILL');
    }
    const payloads = udpPayloads(dumpOut);
    assert.equal(payloads.length, 2, `two packets (repeat: 2); tcpdump said: ${dumpErr}`);
    for (const p of payloads) assert.deepEqual(new Uint8Array(p), encodeMagicPacket('aa:bb:cc:00:11:22'));
    assert.equal(payloads[0].length, 102);
  });
});
