// Test and bench support: two or three `kiln serve` on one fresh PostgreSQL
// database (a copy of the migrated template, test/support/postgres.ts) as the
// target of a simulated fleet (test/support/fleet.ts), each member in its own
// network namespace with its own veth pair to the root namespace, where the
// fleet runs as the relay agent. Every member serves DHCP
// (full mode, the same relayed /16 and the same pool), TFTP and HTTP boot;
// the relay forwards each client message to every member (a relay with one
// helper address per member), so the members answer the same clients at
// once, as on one segment. `kill(k)` is `kill -9` of member k.
// Addresses (the only ones used): member k is 10.112.k.1/24 inside its
// namespace, the root end 10.112.k.254/24; the relay addresses (giaddr) are
// 10.113.0.1… in the served 10.113.0.0/16. Nothing leaves the namespaces;
// `close()` stops the members by PID, removes the namespaces and drops the
// database.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, symlinkSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { FleetTarget } from './fleet.js';
import { createNetns, type TestNetns } from './netns.js';
import { createTempPostgres, type TempPostgres } from './postgres.js';
import { stopChild } from './process.js';
import { kilnBin } from './serve-process.js';

/** The relay address of simulator process k (giaddr), inside the served subnet. */
export const clusterRelay = (k: number): string => `10.113.0.${1 + k}`;

/** One member: its namespace, address, URL and process. */
export interface StormMember {
  ns: TestNetns;
  address: string;
  url: string;
  process: ChildProcess;
  /** The last 200 kB of its log. */
  log(): string;
}

export interface ClusterStormBed {
  members: StormMember[];
  /** What the fleet needs to boot from every member. */
  target: FleetTarget;
  /** The shared database (a TCP URL from the root namespace), for checks after the storm. */
  databaseUrl: string;
  /** `kill -9` of member k; returns the epoch ms just before the signal. */
  kill(k: number): number;
  /** Adds relay address k (k ≥ 1; relay 0 exists) for another simulator process. */
  addRelay(k: number): void;
  close(): Promise<void>;
}

export interface ClusterStormBedOptions {
  /** Scratch directory the caller owns: each member's data dir and config go under it. */
  work: string;
  members: number;
  /** Serve the node image (built into `cacheDir` before; linked as each member's cache) or run with it off. */
  nodeImage: boolean;
  cacheDir?: string;
  /** Each member's whole log to `<logPrefix><k>.log` as well. */
  logPrefix?: string;
  /** Each member's `max-loading` (the boot waiting room); the default when absent. */
  maxLoading?: number;
  /**
   * Make the served /16 local on this host (`ip route add local 10.113.0.0/16 dev lo`, removed on close), so the
   * simulated machines can fetch from their leased addresses (fleet.ts `leasedSources`), as a real row does, and
   * each member's timeline sees each machine's kernel, initrd and report (storm-bed.ts does the same).
   */
  leasedSources?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startClusterStormBed(o: ClusterStormBedOptions): Promise<ClusterStormBed> {
  const n = Math.max(1, Math.min(3, o.members));
  const namespaces: TestNetns[] = [];
  const members: StormMember[] = [];
  const files: WriteStream[] = [];
  let database: TempPostgres | undefined;
  let anyIp = false;
  const close = async (): Promise<void> => {
    await Promise.all(members.map((m) => stopChild(m.process, 10_000)));
    for (const f of files) f.end();
    if (anyIp)
      try {
        execFileSync('ip', ['route', 'del', 'local', '10.113.0.0/16', 'dev', 'lo']);
      } catch (err) {
        process.stderr.write(
          `cluster storm bed: could not remove the local route of 10.113.0.0/16: ${(err as Error).message}\n`,
        );
      }
    for (const ns of namespaces) ns.remove();
    await database?.drop();
  };
  try {
    database = await createTempPostgres('storm', { migrated: true });
    // 127.0.0.1 inside a namespace is that namespace's own loopback: members reach PostgreSQL through its Unix
    // socket (the namespaces share the file system).
    const { username, pathname } = new URL(database.url);
    const viaSocket = `postgres://${username}@${pathname}?host=${process.env.KILN_TEST_PG_SOCKET ?? '/var/run/postgresql'}`;
    const dataKey = randomBytes(32);
    for (let k = 0; k < n; k++) {
      const ns = createNetns(`cs${k}`, `10.112.${k}.254/24`, `10.112.${k}.1/24`);
      namespaces.push(ns);
      if (k === 0) execFileSync('ip', ['addr', 'add', `${clusterRelay(0)}/16`, 'dev', ns.hostIf]);
      ns.exec('ip', ['route', 'add', '10.113.0.0/16', 'via', `10.112.${k}.254`]);
    }
    if (o.leasedSources) {
      // `replace`: a run killed before its close left the route behind.
      execFileSync('ip', ['route', 'replace', 'local', '10.113.0.0/16', 'dev', 'lo']);
      anyIp = true;
    }
    // Member 0 first (it takes the singleton roles), then the others at once.
    members.push(startMember(o, 0, namespaces[0]!, viaSocket, dataKey, files));
    await waitReady(members[0]!, 0, o.nodeImage);
    for (let k = 1; k < n; k++) members.push(startMember(o, k, namespaces[k]!, viaSocket, dataKey, files));
    await Promise.all(members.map((m, k) => waitReady(m, k, o.nodeImage)));
    // Every member lists every other in its scripts once each has seen the others' heartbeats.
    for (let round = 0; ; round++) {
      const lists = await Promise.all(members.map((m) => chainScript(m)));
      if (lists.every((t) => members.every((m) => t.includes(`${m.url}/boot/host.ipxe`)))) break;
      if (round > 60) throw new Error(`the members do not list each other after 30 s:\n${lists.join('\n---\n')}`);
      await sleep(500);
    }
    const bed: ClusterStormBed = {
      members,
      target: { dhcpServers: members.map((m) => m.address), httpBases: members.map((m) => m.url) },
      databaseUrl: database.url,
      kill(k) {
        const at = Date.now();
        process.kill(members[k]!.process.pid!, 'SIGKILL');
        return at;
      },
      addRelay(k) {
        execFileSync('ip', ['addr', 'add', `${clusterRelay(k)}/16`, 'dev', namespaces[0]!.hostIf]);
      },
      close,
    };
    return bed;
  } catch (err) {
    await close();
    throw err;
  }
}

function startMember(
  o: ClusterStormBedOptions,
  k: number,
  ns: TestNetns,
  dbUrl: string,
  dataKey: Buffer,
  files: WriteStream[],
): StormMember {
  const address = `10.112.${k}.1`;
  const url = `http://${address}:8080`;
  const dir = join(o.work, `member-${k}`);
  mkdirSync(dir, { mode: 0o700 });
  // Members hold the store's data key (docs/cluster.md); the join is tested elsewhere (join-postgres.int).
  writeFileSync(join(dir, 'data.key'), dataKey, { mode: 0o600 });
  if (o.nodeImage && o.cacheDir) symlinkSync(o.cacheDir, join(dir, 'cache'));
  const cfg = join(dir, 'kiln.yaml');
  writeFileSync(
    cfg,
    JSON.stringify({
      dhcp: {
        enabled: true,
        serverAddress: address,
        httpBase: url,
        subnets: [
          {
            cidr: '10.113.0.0/16',
            mode: 'full',
            pools: [{ start: '10.113.1.0', end: '10.113.200.255' }],
            router: clusterRelay(0),
            dns: [],
            leaseSeconds: 3600,
            attached: false,
            relayed: true,
          },
        ],
      },
      tftp: { enabled: true },
      // A dead member leaves the others' URL lists after 4 s; roles move within about a second.
      cluster: { heartbeatSeconds: 1, electionMs: 500, staleSeconds: 4 },
    }),
  );
  const child = ns.spawn(
    process.execPath,
    [
      kilnBin,
      'serve',
      '--config',
      cfg,
      '--data-dir',
      dir,
      '--database-url',
      dbUrl,
      '--listen',
      '0.0.0.0:8080',
      '--tls-listen',
      '',
      '--public-url',
      url,
      '--power-poll-interval',
      '0',
      // The fleet fetches from the root ends of the veths (10.112.k.254), not from its leased addresses: one NAT
      // in front of every machine, declared as such (docs/security.md).
      '--boot-source-ranges',
      '10.112.0.0/16',
      '--node-image',
      o.nodeImage ? 'auto' : 'off',
      // A fleet arriving at once is the point here (docs/discovery.md).
      '--discovery-limit',
      '100000',
      ...(o.maxLoading !== undefined ? ['--max-loading', String(o.maxLoading)] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const file = o.logPrefix ? createWriteStream(`${o.logPrefix}${k}.log`) : undefined;
  if (file) files.push(file);
  const take = (d: Buffer) => {
    log = (log + d).slice(-200_000);
    file?.write(d);
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  return { ns, address, url, process: child, log: () => log };
}

/** Bounded: 90 s for a member to serve DHCP (and the node image, when asked for). */
async function waitReady(m: StormMember, k: number, nodeImage: boolean): Promise<void> {
  for (let i = 0; ; i++) {
    const log = m.log();
    if (i > 360 || m.process.exitCode !== null)
      throw new Error(`member ${k} (kiln serve) did not become ready:\n${log.slice(-4000)}`);
    if (/DHCP serving/.test(log) && (!nodeImage || /node image ready/.test(log))) return;
    await sleep(250);
  }
}

/** The member's /boot.ipxe, fetched from the root end of its veth ('' when it does not answer). */
async function chainScript(m: StormMember): Promise<string> {
  try {
    const res = await fetch(`${m.url}/boot.ipxe`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? await res.text() : '';
  } catch {
    return '';
  }
}
