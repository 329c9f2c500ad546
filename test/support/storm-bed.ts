// Test and bench support: `kiln serve` in its own network namespace as the
// target of a simulated fleet (test/support/fleet.ts). DHCP runs in full mode
// for a relayed /16 (the fleet plays the relay agent from the root end of the
// veth pair), TFTP and HTTP boot on 10.90.0.1. Nothing leaves the namespace
// pair; `close()` stops Kiln by PID and removes the namespace.
import { type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createNetns, type TestNetns } from './netns.js';
import { stopChild } from './process.js';
import { kilnBin } from './serve-process.js';

export const STORM_SERVER = '10.90.0.1';
/** The relay agent's address (giaddr): on the root end, inside the served 10.91.0.0/16. */
export const STORM_RELAY = '10.91.0.1';
export const STORM_HTTP = `http://${STORM_SERVER}:8080`;

export interface StormBedOptions {
  /** Scratch directory the caller owns (config, data dir unless `dataDir`). */
  work: string;
  /** Data directory (its `cache/` may hold a built node image); default `<work>/data`. */
  dataDir?: string;
  /** Wait for the node image (discovery kernel and initrd) before returning; else run with --node-image off. */
  nodeImage: boolean;
  /** Whole controller log to this file as well. */
  logFile?: string;
  /** Extra node flags for the controller (e.g. --cpu-prof). */
  nodeFlags?: string[];
  /** `tftp.nativeNice` (the config default when absent). */
  tftpNice?: number;
  /** `dhcp.worker`: DHCP on its own thread (true, the default) or on the main event loop (false). */
  dhcpWorker?: boolean;
  /** `dhcp.receiveBufferKiB` (the config default when absent). */
  dhcpReceiveBufferKiB?: number;
  /** More config sections (e.g. `syslog`), merged at the top level. */
  extraConfig?: Record<string, unknown>;
  /**
   * Make the served /16 local on this host (`ip route add local 10.91.0.0/16 dev lo`, removed on close), so the
   * simulated machines can fetch from their leased addresses (fleet.ts `leasedSources`), as a real row does.
   */
  leasedSources?: boolean;
}

export interface StormBed {
  ns: TestNetns;
  dataDir: string;
  /** The last 200 kB of the controller's log. */
  log(): string;
  adminToken(): string;
  /** The controller's process id (for /proc readings such as its peak RSS). */
  pid(): number | undefined;
  close(): Promise<void>;
}

export async function startStormBed(o: StormBedOptions): Promise<StormBed> {
  const dataDir = o.dataDir ?? join(o.work, 'data');
  const ns = createNetns('bs', '10.90.0.254/24', `${STORM_SERVER}/24`);
  let serve: ChildProcess | undefined;
  let file: WriteStream | undefined;
  let log = '';
  let anyIp = false;
  const close = async (): Promise<void> => {
    await stopChild(serve, 10_000);
    file?.end();
    if (anyIp) {
      try {
        execFileSync('ip', ['route', 'del', 'local', '10.91.0.0/16', 'dev', 'lo']);
      } catch (err) {
        process.stderr.write(
          `storm bed: could not remove the local route of 10.91.0.0/16: ${(err as Error).message}\n`,
        );
      }
    }
    ns.remove();
  };
  try {
    execFileSync('ip', ['addr', 'add', `${STORM_RELAY}/16`, 'dev', ns.hostIf]);
    ns.exec('ip', ['route', 'add', '10.91.0.0/16', 'via', '10.90.0.254']);
    if (o.leasedSources) {
      // `replace`: a run killed before its close left the route behind.
      execFileSync('ip', ['route', 'replace', 'local', '10.91.0.0/16', 'dev', 'lo']);
      anyIp = true;
    }
    const cfg = join(o.work, 'kiln-storm.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        dhcp: {
          enabled: true,
          serverAddress: STORM_SERVER,
          httpBase: STORM_HTTP,
          subnets: [
            {
              cidr: '10.91.0.0/16',
              mode: 'full',
              pools: [{ start: '10.91.1.0', end: '10.91.200.255' }],
              router: STORM_RELAY,
              dns: [],
              leaseSeconds: 3600,
              attached: false,
              relayed: true,
            },
          ],
          ...(o.dhcpWorker !== undefined ? { worker: o.dhcpWorker } : {}),
          ...(o.dhcpReceiveBufferKiB !== undefined ? { receiveBufferKiB: o.dhcpReceiveBufferKiB } : {}),
        },
        tftp: { enabled: true, ...(o.tftpNice !== undefined ? { nativeNice: o.tftpNice } : {}) },
        ...o.extraConfig,
      }),
    );
    serve = ns.spawn(
      process.execPath,
      [
        ...(o.nodeFlags ?? []),
        kilnBin,
        'serve',
        '--config',
        cfg,
        '--data-dir',
        dataDir,
        '--listen',
        '0.0.0.0:8080',
        '--tls-listen',
        '',
        '--public-url',
        STORM_HTTP,
        '--power-poll-interval',
        '0',
        // The simulated fleet fetches scripts and reports from the root end of the veth, not from its leased
        // addresses: to Kiln it is one NAT in front of every machine, declared as such (docs/security.md).
        '--boot-source-ranges',
        '10.90.0.254/32',
        '--node-image',
        o.nodeImage ? 'auto' : 'off',
        // A fleet arriving at once is the point here: the default 1000 new machines per subnet per minute would
        // refuse the rest of a larger storm until the next minute (docs/discovery.md).
        '--discovery-limit',
        '100000',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    if (o.logFile) file = createWriteStream(o.logFile);
    const take = (d: Buffer) => {
      log = (log + d).slice(-200_000);
      file?.write(d);
    };
    serve.stdout!.on('data', take);
    serve.stderr!.on('data', take);
    // Bounded: 60 s for start-up (the node image must already be in the cache when asked for).
    for (let i = 0; ; i++) {
      if (i > 240 || serve.exitCode !== null)
        throw new Error(
          `kiln serve did not become ready (DHCP serving${o.nodeImage ? ', node image ready' : ''}):\n${log.slice(-4000)}`,
        );
      if (/DHCP serving/.test(log) && (!o.nodeImage || /node image ready/.test(log))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    return {
      ns,
      dataDir,
      log: () => log,
      adminToken: () => readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
      pid: () => serve?.pid,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
