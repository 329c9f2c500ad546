// A boot storm against several `kiln serve` on one PostgreSQL
// (test/support/cluster-storm-bed.ts: each member in its own namespace, the
// simulated fleet's relay forwarding every DHCP message to each member, HTTP
// boot from each), the machines running the scripts Kiln serves
// (test/support/fleet.ts, fleet-ipxe.ts), so they fail over between members
// where the scripts say. One bed of three members for the file, in order:
// the lease table under a storm against all three at once; one machine
// whose OFFER came from member 2, then killed: its REQUEST is ACKed by member
// 1 in the dead member's name (docs/cluster.md, "DHCP REQUESTs for a dead
// member"), never while that member lives, never for a foreign server; then
// `kill -9` of member 0 in the middle of a storm against the two live ones
// (members 0 and 1). No timing is asserted: every machine must reach its
// discovery report, and the shared database must hold what the machines were
// told (test/support/cluster-storm-check.ts). Each storm boots machines of its
// own (fleet indices, so MACs, no machine seen before) and its store checks
// cover its own machines and the hosts made after it began; the pause the
// machines saw is printed. bench/boot-storm.bench.ts --controllers=2|3
// --kill-at=N runs the same with 1000 machines and the kernel and initrd.
// Addresses: 10.112.0.0/16 and 10.113.0.0/16, on the test's own namespaces and veths only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createSocket, type Socket } from 'node:dgram';
import pg from 'pg';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from '../protocols/dhcp4/packet.js';
import { getIpOption, ipOption, textOption, uintOption } from '../protocols/dhcp4/options.js';
import { join } from 'node:path';
import { canUseNetns } from '../../test/support/netns.js';
import { runFleet, type FleetTarget } from '../../test/support/fleet.js';
import {
  clusterRelay,
  startClusterStormBed,
  type ClusterStormBed,
  type StormMember,
} from '../../test/support/cluster-storm-bed.js';
import {
  checkClusterStore,
  newestEventSeq,
  pauseAfterKill,
  requestsToDead,
} from '../../test/support/cluster-storm-check.js';
import type { MachineOutcome } from '../../test/support/fleet.js';

const skip = canUseNetns() ? false : 'needs root and iproute2 (network namespaces)';
const work = mkdtempSync(join(tmpdir(), 'kiln-storm-kill-'));
let bed: ClusterStormBed | undefined;

before(async () => {
  if (!skip) bed = await startClusterStormBed({ work, members: 3, nodeImage: false });
});
after(async () => {
  await bed?.close();
  rmSync(work, { recursive: true, force: true });
});

/** The bed's members that still run. */
const liveMembers = (): StormMember[] =>
  bed!.members.filter((m) => m.process.exitCode === null && m.process.signalCode === null);
/** A fleet target of `members` alone (a dead member's helper address is left out, as an operator would). */
const targetOf = (members: readonly StormMember[]): FleetTarget => ({
  dhcpServers: members.map((m) => m.address),
  httpBases: members.map((m) => m.url),
});
/** Fleet indices `from` … `from + n - 1`: each storm's own MACs (a multiple of 3 keeps the firmware mix). */
const indices = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? 0;

test(
  'three controllers on one PostgreSQL answering one storm at once: no address leased to two machines, no MAC in two hosts, every ACK a bound lease',
  { skip, timeout: 240_000 },
  async (t) => {
    const cluster = bed!;
    assert.equal(liveMembers().length, 3, 'three members up');
    const HOSTS = 120;
    const since = await newestEventSeq(cluster.databaseUrl);
    const run = await runFleet({
      hosts: HOSTS,
      indices: indices(0, HOSTS),
      images: false,
      firmware: 'mixed',
      relay: clusterRelay(0),
      target: cluster.target,
      maxBoots: 2,
    });
    const failed = run.outcomes.filter((o) => !o.ok).map((o) => `${o.mac}: ${o.error}`);
    assert.deepEqual(failed, [], 'every machine reached its discovery report');
    const ackedBy = new Map<string, number>();
    for (const o of run.outcomes) for (const a of o.acks) ackedBy.set(a.server, (ackedBy.get(a.server) ?? 0) + 1);
    t.diagnostic(
      `${HOSTS} machines in ${run.wallSeconds.toFixed(1)} s; ACKs by member: ${[...ackedBy].map(([s, n]) => `${s} ${n}`).join(', ')}; ${run.outcomes.filter((o) => o.boots > 1).length} started a second boot`,
    );
    const checks = await checkClusterStore(cluster.databaseUrl, run.outcomes, undefined, since);
    for (const c of checks) t.diagnostic(`${c.ok ? 'ok' : 'FAIL'} ${c.check}: ${c.found}`);
    assert.deepEqual(
      checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.found}`),
      [],
      'every invariant over the shared store holds',
    );
  },
);

/** The test machine's MAC: outside the fleet's 52:54:01:… */
const MAC = Uint8Array.of(0x52, 0x54, 0x02, 0x00, 0x00, 0x01);

/** A message of iPXE on x86-64 UEFI (93 = 7, 60, 77 = iPXE) relayed from clusterRelay(0); `extra` after 53. */
function ipxeMessage(xid: number, type: number, extra: ReturnType<typeof ipOption>[] = []): Uint8Array {
  const chaddr = new Uint8Array(16);
  chaddr.set(MAC);
  const p: DhcpPacket = {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 1,
    xid,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: clusterRelay(0),
    chaddr,
    sname: '',
    file: '',
    options: [
      uintOption(53, type, 1),
      ...extra,
      uintOption(93, 7, 2),
      textOption(60, 'PXEClient:Arch:00007:UNDI:003016'),
      textOption(77, 'iPXE'),
    ],
  };
  return encodeDhcp(p);
}

/**
 * Sends `bytes` to each of `servers` (the relay's helper addresses) after 0, 1, 3, 7 s (iPXE's back-off) and
 * resolves with the first reply for `xid` that `accept` takes, or null after 15 s.
 */
function exchange(
  sock: Socket,
  replies: Map<number, (p: DhcpPacket, from: string) => void>,
  o: { xid: number; bytes: Uint8Array; servers: string[]; accept: (p: DhcpPacket) => boolean; limitMs?: number },
): Promise<{ p: DhcpPacket; from: string; at: number } | null> {
  return new Promise((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    const done = (v: { p: DhcpPacket; from: string; at: number } | null) => {
      for (const t of timers) clearTimeout(t);
      replies.delete(o.xid);
      resolve(v);
    };
    replies.set(o.xid, (p, from) => {
      if (o.accept(p)) done({ p, from, at: Date.now() });
    });
    for (const at of [0, 1000, 3000, 7000].filter((ms) => ms < (o.limitMs ?? 15_000)))
      timers.push(setTimeout(() => o.servers.forEach((s) => sock.send(o.bytes, 67, s)), at));
    timers.push(setTimeout(() => done(null), o.limitMs ?? 15_000));
  });
}

test(
  'DHCP for a dead member: the REQUEST of a machine whose OFFER came from the killed member is ACKed by the other, naming the dead one (never for a live member or a foreign server); the shared store holds',
  { skip, timeout: 240_000 },
  async (t) => {
    const cluster = bed!;
    // Member 2 takes the OFFER's part and is killed; member 1 answers in its place.
    const [m0, m1] = [cluster.members[2]!, cluster.members[1]!];
    assert.ok(liveMembers().includes(m0) && liveMembers().includes(m1), 'members 1 and 2 are up');
    const since = await newestEventSeq(cluster.databaseUrl);
    const sock = createSocket('udp4');
    const replies = new Map<number, (p: DhcpPacket, from: string) => void>();
    sock.on('message', (m, rinfo) => {
      try {
        const p = decodeDhcp(new Uint8Array(m.buffer, m.byteOffset, m.byteLength));
        replies.get(p.xid)?.(p, rinfo.address);
      } catch {
        /* not a DHCP reply */
      }
    });
    await new Promise<void>((r) => sock.bind(67, clusterRelay(0), () => r()));
    const type = (p: DhcpPacket) => p.options.find((x) => x.code === 53)?.data[0];
    let outcome: MachineOutcome;
    try {
      // The OFFER from member 2 alone (the relay asked only it).
      const offer = await exchange(sock, replies, {
        xid: 0x7a000001,
        bytes: ipxeMessage(0x7a000001, 1),
        servers: [m0.address],
        accept: (p) => type(p) === 2,
      });
      assert.ok(offer, 'member 2 offered');
      assert.equal(getIpOption(offer.p, 54), m0.address);
      const offered = offer.p.yiaddr;
      const request = (xid: number, server: string) =>
        ipxeMessage(xid, 3, [ipOption(50, offered), ipOption(54, server)]);

      // While member 2 lives, member 1 leaves a REQUEST naming it alone; and one naming a server that is no member.
      const [live, foreign] = await Promise.all([
        exchange(sock, replies, {
          xid: 0x7a000002,
          bytes: request(0x7a000002, m0.address),
          servers: [m1.address],
          accept: () => true,
          limitMs: 3000,
        }),
        exchange(sock, replies, {
          xid: 0x7a000003,
          bytes: request(0x7a000003, '10.112.9.1'),
          servers: [m1.address],
          accept: () => true,
          limitMs: 3000,
        }),
      ]);
      assert.equal(live, null, 'no answer for a live member');
      assert.equal(foreign, null, 'no answer for a foreign server');

      const killAt = cluster.kill(2);
      // As iPXE: the REQUEST to every helper address, an ACK only when its 54 is the one asked for.
      const ack = await exchange(sock, replies, {
        xid: 0x7a000004,
        bytes: request(0x7a000004, m0.address),
        servers: [m0.address, m1.address],
        accept: (p) => getIpOption(p, 54) === m0.address && (type(p) === 5 || type(p) === 6),
      });
      assert.ok(ack, "a REQUEST naming the killed member is answered within iPXE's back-off");
      t.diagnostic(`ACK ${ack.at - killAt} ms after the kill, from ${ack.from}`);
      assert.equal(type(ack.p), 5, 'an ACK');
      assert.equal(ack.from, m1.address, 'sent by member 1');
      assert.equal(ack.p.yiaddr, offered, 'the address member 2 offered');
      assert.equal(ack.p.file, `${m1.url}/boot.ipxe`, "the boot script is member 1's");
      const foreignAfter = await exchange(sock, replies, {
        xid: 0x7a000005,
        bytes: request(0x7a000005, '10.112.9.1'),
        servers: [m1.address],
        accept: () => true,
        limitMs: 2000,
      });
      assert.equal(foreignAfter, null, 'still no answer for a foreign server');
      const why = /dhcp: member [^"]* is dead \((.*?)\); this member/.exec(m1.log())?.[1];
      t.diagnostic(`member 1 took member 2 for dead: ${why ?? '(no log line)'}`);
      assert.match(m1.log(), /dhcp: answered a REQUEST for dead member/);
      const c = new pg.Client({ connectionString: cluster.databaseUrl });
      await c.connect();
      try {
        const rows = (
          await c.query<{ mac: string; state: string }>('SELECT mac, state FROM dhcp_leases WHERE ip = $1', [offered])
        ).rows;
        assert.deepEqual(rows, [{ mac: '52:54:02:00:00:01', state: 'bound' }]);
      } finally {
        await c.end();
      }
      const at = Date.now();
      outcome = {
        index: -1,
        mac: '52:54:02:00:00:01',
        firmware: 'uefi-pxe',
        ok: false,
        retries: 0,
        retriedAt: [],
        bytes: 0,
        boots: 1,
        acks: [{ ip: offered, server: m0.address, at, requestedAt: killAt, from: ack.from }],
        progress: [],
        misses: [],
      };
    } finally {
      sock.close();
    }
    // Machines booting through the live members after the kill; every check over the store, the test machine included.
    const run = await runFleet({
      hosts: 20,
      indices: indices(1500, 20),
      images: false,
      firmware: 'mixed',
      relay: clusterRelay(0),
      target: targetOf(liveMembers().filter((m) => m !== m0)),
      maxBoots: 2,
    });
    assert.deepEqual(
      run.outcomes.filter((o) => !o.ok).map((o) => `${o.mac}: ${o.error}`),
      [],
      'every machine reached its discovery report',
    );
    const checks = await checkClusterStore(cluster.databaseUrl, [...run.outcomes, outcome], m0.url, since);
    for (const c of checks) t.diagnostic(`${c.ok ? 'ok' : 'FAIL'} ${c.check}: ${c.found}`);
    assert.deepEqual(
      checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.found}`),
      [],
      'every invariant over the shared store holds',
    );
  },
);

test(
  'kill -9 of one of two controllers in the middle of a boot storm: every machine reaches discovery through the other; leases, hosts and events hold in the shared store',
  { skip, timeout: 240_000 },
  async (t) => {
    const cluster = bed!;
    // Two live members (0 and 1; member 2 was killed by the test before, or is left out of this storm).
    const [m0, m1] = liveMembers().filter((m) => m !== cluster.members[2]);
    assert.ok(m0 && m1 && m0 === cluster.members[0], 'members 0 and 1 are up');
    const HOSTS = 80;
    const since = await newestEventSeq(cluster.databaseUrl);
    const KILL_AT = 30;
    let scripts = 0;
    const kill: { at?: number } = {};
    // 20 at a time, so the storm is still arriving when member 0 dies.
    const run = await runFleet({
      hosts: HOSTS,
      indices: indices(3000, HOSTS),
      parallel: 20,
      images: false,
      firmware: 'mixed',
      relay: clusterRelay(0),
      target: targetOf([m0, m1]),
      maxBoots: 2,
      onStage: (_i, stage) => {
        if (stage === 'scripts' && ++scripts === KILL_AT) kill.at = cluster.kill(0);
      },
    });
    const killAt = kill.at;
    assert.ok(killAt !== undefined, `member 0 was killed after ${KILL_AT} per-host scripts`);
    const failed = run.outcomes.filter((o) => !o.ok).map((o) => `${o.mac}: ${o.error}`);
    assert.deepEqual(failed, [], 'every machine reached its discovery report');

    const pause = pauseAfterKill(run.outcomes, m0.address, killAt);
    const rebooted = run.outcomes.filter((o) => o.boots > 1).length;
    t.diagnostic(
      `${HOSTS} machines in ${run.wallSeconds.toFixed(1)} s, ${rebooted} started a second boot; ${pause.affected} had an exchange with the killed member fail, ${pause.resumed} progressed again; pause after the kill p50 ${pct(pause.pausesMs, 0.5).toFixed(0)} ms, max ${Math.max(0, ...pause.pausesMs).toFixed(0)} ms`,
    );
    assert.equal(pause.resumed, pause.affected, 'every machine the kill interrupted progressed again');
    const q = requestsToDead(run.outcomes, m0.address);
    t.diagnostic(
      `REQUESTs naming the killed member: ${q.takenOver} ACKed by the other in its place; never answered: ${q.unanswered.firmware} firmware, ${q.unanswered.ipxe} iPXE`,
    );

    const checks = await checkClusterStore(cluster.databaseUrl, run.outcomes, m0.url, since);
    for (const c of checks) t.diagnostic(`${c.ok ? 'ok' : 'FAIL'} ${c.check}: ${c.found}`);
    assert.deepEqual(
      checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.found}`),
      [],
      'every invariant over the shared store holds',
    );
  },
);
