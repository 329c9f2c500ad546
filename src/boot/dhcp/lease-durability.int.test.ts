// Durability under SIGKILL: Kiln's DHCP server (its own process, SQLite
// file, group commit on the lease worker) is killed with SIGKILL in the
// middle of a burst of fresh clients (perfdhcp, broadcast, a new MAC per
// exchange). Every DHCPACK seen on the wire before the kill must name a lease
// that the store holds after a restart: an ACK leaves only after its group
// commit is durable. Addresses: 10.94.240.0/20 on the test's own veth pair.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canUseNetns, createNetns, type TestNetns } from '../../../test/support/netns.js';
import { startDhcpServerProcess, stopDhcpServerProcess } from '../../../test/support/dhcp-server-process.js';
import { defaultDhcpConfig, type DhcpConfig } from './dhcp-config.js';
import { readPcapUdp } from '../../protocols/pcap/reader.js';
import { decodeDhcp, macOf } from '../../protocols/dhcp4/packet.js';
import { getMessageType } from '../../protocols/dhcp4/options.js';
import { DhcpMessageType } from '../../protocols/dhcp4/codes.js';
import { openSqlite } from '../../store/database.js';
import { migrateToLatest } from '../../store/migrate.js';
import { createSqlLeaseStore } from './sql-lease-store.js';

const skip = !canUseNetns() ? 'needs root and iproute2 (network namespaces)' : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-dhcp-kill-'));
const procs: ChildProcess[] = [];
const namespaces: TestNetns[] = [];
after(() => {
  for (const p of procs)
    if (p.exitCode === null && p.signalCode === null && p.pid) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  for (const ns of namespaces) ns.remove();
  rmSync(work, { recursive: true, force: true });
});

const SERVER = '10.94.240.1';
const config: DhcpConfig = {
  ...defaultDhcpConfig,
  enabled: true,
  serverAddress: SERVER,
  httpBase: `http://${SERVER}:8080`,
  subnets: [
    {
      cidr: '10.94.240.0/20',
      mode: 'full',
      pools: [{ start: '10.94.241.0', end: '10.94.255.250' }],
      dns: [],
      leaseSeconds: 43_200,
      attached: true,
    },
  ],
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (p: ChildProcess, ms: number) =>
  Promise.race([new Promise((r) => p.once('exit', r)), sleep(ms)]).then(() => p.exitCode !== null || !!p.signalCode);

test(
  'SIGKILL in the middle of a burst of fresh clients loses no ACKed lease: every ACK on the wire is in the store after a restart',
  { skip, timeout: 120_000 },
  async (t) => {
    const ns = createNetns('dkill', '10.94.240.254/20', `${SERVER}/20`);
    namespaces.push(ns);
    const db = join(work, 'leases.sqlite');
    const pcap = join(work, 'acks.pcap');
    const server = await startDhcpServerProcess(ns, config, db, work, procs);
    // Every reply Kiln sends, captured on the client's end of the pair (-U: written packet by packet;
    // --immediate-mode: without it libpcap's ring blocks still unread when tcpdump stops are lost).
    const dump = spawn(
      'tcpdump',
      ['-i', ns.hostIf, '--immediate-mode', '-U', '-n', '-w', pcap, 'udp and src port 67'],
      {
        stdio: 'ignore',
      },
    );
    procs.push(dump);
    await sleep(1000); // tcpdump is listening
    // A burst of fresh clients, broadcast, one new MAC per exchange; it runs past the kill.
    const load = spawn(
      'perfdhcp',
      ['-4', '-l', ns.hostIf, '-B', '-r', '1500', '-p', '6', '-R', '16000000', '-W', '500000'],
      { stdio: 'ignore' },
    );
    procs.push(load);
    await sleep(2500);
    // The burst (6 s) is still running when the server dies: the kill falls in the middle of it.
    assert.equal(load.exitCode, null, 'perfdhcp was still sending at the kill');
    process.kill(server.pid!, 'SIGKILL');
    assert.ok(await exited(server, 10_000), 'the server died');
    assert.equal(server.signalCode, 'SIGKILL', 'killed, not stopped: no graceful drain of pending commits');
    await sleep(500); // replies in flight reach tcpdump
    load.kill('SIGKILL');
    dump.kill('SIGINT');
    assert.ok(await exited(dump, 10_000), 'tcpdump stopped');

    const acks = new Map<string, string>();
    let offers = 0;
    for (const d of readPcapUdp(new Uint8Array(readFileSync(pcap)))) {
      const p = decodeDhcp(d.payload);
      const type = getMessageType(p);
      if (type === DhcpMessageType.offer) offers++;
      if (type === DhcpMessageType.ack) acks.set(macOf(p), p.yiaddr);
    }
    // Many leases were ACKed before the kill. How many exchanges were between OFFER and ACK at that instant
    // depends on where the kill lands, and a capture at this rate can miss a few frames (CI once saw 6 fewer
    // OFFERs than ACKs): printed, not asserted. What is asserted is about the ACKs that were seen.
    t.diagnostic(`${acks.size} ACKs and ${offers} OFFERs on the wire before the SIGKILL`);
    assert.ok(acks.size >= 200, `only ${acks.size} ACKs before the kill`);

    // A restart (migrations, WAL recovery) and the store is read back.
    const restarted = await startDhcpServerProcess(ns, config, db, work, procs);
    await stopDhcpServerProcess(restarted);
    const store = openSqlite(db);
    try {
      await migrateToLatest(store.db);
      const leases = new Map((await createSqlLeaseStore(store.db).list()).map((l) => [l.mac, l]));
      const lost = [...acks].filter(([mac, ip]) => leases.get(mac)?.ip !== ip || leases.get(mac)?.state !== 'bound');
      assert.deepEqual(lost.slice(0, 10), [], `${lost.length} of ${acks.size} ACKed leases are not in the store`);
      // Nothing is claimed twice either: one MAC per address.
      assert.equal(new Set([...leases.values()].map((l) => l.ip)).size, leases.size);
    } finally {
      await store.close();
      ns.remove();
    }
  },
);
