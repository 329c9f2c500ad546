// Wake-on-LAN: the real driver runs inside a test namespace (whose only
// link is a veth pair) and broadcasts; tcpdump on the root end captures it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { canUseNetns, createNetns, type TestNetns } from '../../../test/support/netns.js';
import { runPowerDriverConformance } from '../power-driver.conformance.js';
import { encodeMagicPacket } from './magic-packet.js';
import { createWolDriver } from './wol-driver.js';

const hasTcpdump = spawnSync('sh', ['-c', 'command -v tcpdump']).status === 0;
const skip = !hasTcpdump ? 'tcpdump not installed' : !canUseNetns() ? 'needs root and iproute2 to create a network namespace' : false;

/** UDP payloads from a classic pcap of Ethernet/IPv4/UDP frames. */
function udpPayloads(pcap: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 24; off + 16 <= pcap.length;) {
    const incl = pcap.readUInt32LE(off + 8);
    const frame = pcap.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (frame.readUInt16BE(12) !== 0x0800) continue; // IPv4 only
    const ihl = (frame[14]! & 0x0f) * 4;
    if (frame[14 + 9] !== 17) continue; // UDP
    out.push(frame.subarray(14 + ihl + 8));
  }
  return out;
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
    const driver = createWolDriver({ driver: 'wol', address: '52:54:00:12:34:56', options: { broadcast: '10.231.7.255', sourceAddress: '10.231.7.1', port: 9, repeat: 1 } });
    return { driver, cleanup: async () => ns?.remove() };
  },
});

describe('wake-on-LAN magic packet on the wire', { skip }, () => {
  let n: TestNetns;
  let dir: string;
  before(() => { n = createNetns('wol', '10.231.8.1/24', '10.231.8.2/24'); dir = mkdtempSync(join(tmpdir(), 'kiln-wol-')); });
  after(() => { n?.remove(); rmSync(dir, { recursive: true, force: true }); });

  it('sends 102-byte magic packets to the subnet broadcast from inside the namespace', async () => {
    const file = join(dir, 'wol.pcap');
    const dump = spawn('tcpdump', ['-i', n.hostIf, '-U', '-n', '-w', file, 'udp and port 9'], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('tcpdump did not start within 10 s')), 10_000);
        dump.stderr.on('data', (d: Buffer) => { if (d.toString().includes('listening on')) { clearTimeout(t); resolve(); } });
        dump.once('exit', (c) => { clearTimeout(t); reject(new Error(`tcpdump exited ${c}`)); });
      });
      const repo = new URL('../../../', import.meta.url).pathname;
      n.exec(process.execPath, ['--import', 'tsx', join(repo, 'src/power/wol/testing/send-wol.ts'), 'AA-BB-CC-00-11-22', '10.231.8.255', '9'], 30_000);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      const gone = new Promise((r) => dump.once('exit', r));
      if (dump.pid && dump.exitCode === null) process.kill(dump.pid, 'SIGINT');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (dump.pid && dump.exitCode === null && dump.signalCode === null) process.kill(dump.pid, 'SIGKILL');
    }
    const payloads = udpPayloads(readFileSync(file));
    assert.equal(payloads.length, 2, 'two packets (repeat: 2)');
    for (const p of payloads) assert.deepEqual(new Uint8Array(p), encodeMagicPacket('aa:bb:cc:00:11:22'));
    assert.equal(payloads[0]!.length, 102);
  });
});
