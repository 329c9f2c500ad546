/**
 * Runs Debian's radvd as Kiln's child process to answer IPv6 router
 * solicitations on the boot interfaces (config from `formatRadvdConfig`).
 * Why radvd and not our own code: Node has no raw ICMPv6 socket, and radvd is
 * the maintained RFC 4861 implementation. A child that exits is logged and
 * restarted with doubling back-off; after `maxRestarts` quick failures in a
 * row Kiln gives up (an ERROR: iPXE then waits for IPv6 again) and keeps
 * serving everything else.
 */
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { raInterfaces, type RouterAdvertisementConfig } from './ra-config.js';
import { formatRadvdConfig } from './radvd-config.js';

/** Where Debian installs radvd. */
export const RADVD_PATH = '/usr/sbin/radvd';
/** util-linux `setpriv`: with `--pdeathsig` the kernel ends radvd when Kiln dies without cleaning up. */
const SETPRIV_PATH = '/usr/bin/setpriv';

/** Starts one child process; the default is node's `spawn`. Tests inject one that enters a namespace or fakes the child. */
export type SpawnProcess = (command: string, args: string[]) => ChildProcess;

/** Restart policy: delays in ms; a run of at least `stableMs` resets the failure count. */
export interface RestartPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  maxRestarts: number;
  stableMs: number;
}

const defaultPolicy: RestartPolicy = { firstDelayMs: 1000, maxDelayMs: 30_000, maxRestarts: 5, stableMs: 60_000 };

/** Delay before restart number `failures` (1-based): first, doubling, capped. */
export function restartDelayMs(failures: number, policy: Pick<RestartPolicy, 'firstDelayMs' | 'maxDelayMs'>): number {
  return Math.min(policy.firstDelayMs * 2 ** Math.max(0, failures - 1), policy.maxDelayMs);
}

/** Dependencies of `startRouterAdvertiser`. */
export interface RouterAdvertiserDeps {
  /** Boot interfaces to answer on; at least one. */
  interfaces: readonly string[];
  log?: Logger;
  /** Aborting stops radvd like `close()`. */
  signal?: AbortSignal | undefined;
  spawn?: SpawnProcess;
  radvdPath?: string;
  restart?: Partial<RestartPolicy>;
}

/** The supervised radvd. */
export interface RouterAdvertiser {
  /** PID of the running radvd, or null between restarts, after giving up, or after close. */
  pid(): number | null;
  /** Stops radvd by PID (SIGTERM, SIGKILL after 3 s) and removes its config directory. Idempotent. */
  close(): Promise<void>;
}

/** radvd lines that need a human's eye; everything else it prints is lifecycle chatter (debug). */
const RADVD_PROBLEM = /not found|error|fail|can't|cannot|unable|invalid|no linklocal/i;
/** radvd warns that IPv6 forwarding is off on every start: expected, Kiln is not a router (lifetime 0). */
const RADVD_FORWARDING = /forwarding/i;

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Starts radvd for `interfaces`; rejects when radvd is not installed or cannot be spawned. */
export async function startRouterAdvertiser(deps: RouterAdvertiserDeps): Promise<RouterAdvertiser> {
  const log = deps.log ?? silentLogger;
  const spawn = deps.spawn ?? ((cmd, args) => nodeSpawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  const radvd = deps.radvdPath ?? RADVD_PATH;
  const policy = { ...defaultPolicy, ...deps.restart };
  if (!deps.spawn && !existsSync(radvd)) {
    throw new KilnError(
      'config_invalid',
      `dhcp.routerAdvertisements: ${radvd} is missing; install Debian's radvd package or set dhcp.routerAdvertisements.enabled: false`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'kiln-radvd-'));
  const conf = join(dir, 'radvd.conf');
  await writeFile(conf, formatRadvdConfig(deps.interfaces), { mode: 0o600 });
  // -n: stay in the foreground (our child, stopped by PID); -m stderr: its log comes to us.
  const radvdArgs = ['-n', '-C', conf, '-p', join(dir, 'radvd.pid'), '-m', 'stderr'];
  const [command, args] = existsSync(SETPRIV_PATH)
    ? [SETPRIV_PATH, ['--pdeathsig', 'TERM', '--', radvd, ...radvdArgs]]
    : [radvd, radvdArgs];

  let child: ChildProcess | null = null;
  let timer: NodeJS.Timeout | null = null;
  let failures = 0;
  let closing: Promise<void> | null = null;

  const forwardLines = (c: ChildProcess, recent: string[]): void => {
    let partial = '';
    c.stderr?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        // `-m stderr` prefixes "[Mon dd hh:mm:ss] radvd (pid): ".
        const line = raw.replace(/^\[[^\]]*\]\s*radvd \(\d+\):\s*/, '').trim();
        if (!line) continue;
        recent.push(line);
        if (recent.length > 8) recent.shift();
        if (RADVD_PROBLEM.test(line) && !RADVD_FORWARDING.test(line)) log.warn({ line }, 'radvd reports a problem');
        else log.debug({ line }, 'radvd');
      }
    });
  };

  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const recent: string[] = [];
      const c = spawn(command, args);
      child = c;
      forwardLines(c, recent);
      c.once('spawn', () => {
        log.info(
          { pid: c.pid, interfaces: deps.interfaces },
          'radvd answering router solicitations (router lifetime 0, no prefix)',
        );
        resolve();
      });
      c.on('error', (err) => {
        // A failed spawn has no PID (and no 'exit'); later errors are failed signals, harmless here.
        if (c.pid === undefined) {
          if (child === c) child = null;
          reject(err);
        } else log.debug({ err: err.message }, 'radvd: child process error');
      });
      c.once('exit', (code, sig) => {
        if (child === c) child = null;
        if (closing) return;
        failures = Date.now() - started >= policy.stableMs ? 1 : failures + 1;
        if (failures > policy.maxRestarts) {
          log.error(
            { code, signal: sig, failures: failures - 1, lastLines: recent },
            'radvd keeps exiting: router advertisements stopped (iPXE waits ~16 s for IPv6 again); check the interfaces and restart Kiln',
          );
          return;
        }
        const delay = restartDelayMs(failures, policy);
        log.warn({ code, signal: sig, restartInMs: delay, lastLines: recent }, 'radvd exited; restarting');
        timer = setTimeout(() => {
          timer = null;
          launch().catch((err: Error) =>
            log.error({ err: err.message }, 'radvd could not be restarted: router advertisements stopped'),
          );
        }, delay);
      });
    });

  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (timer) clearTimeout(timer);
      const c = child;
      if (c && c.pid !== undefined && !exited(c)) {
        const gone = new Promise<void>((r) => c.once('exit', () => r()));
        try {
          process.kill(c.pid, 'SIGTERM');
        } catch {
          /* already gone */
        }
        const killTimer = setTimeout(() => {
          try {
            process.kill(c.pid!, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }, 3000);
        await gone;
        clearTimeout(killTimer);
      }
      child = null;
      await rm(dir, { recursive: true, force: true });
    })();
    return closing;
  };

  try {
    await launch();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new KilnError(
      'config_invalid',
      `dhcp.routerAdvertisements: could not start radvd: ${(err as Error).message}`,
      { cause: err },
    );
  }
  deps.signal?.addEventListener(
    'abort',
    () => {
      void close();
    },
    { once: true },
  );
  return { pid: () => child?.pid ?? null, close };
}

/**
 * Starts radvd from the `dhcp` slice when DHCP and `routerAdvertisements` are
 * on and there are boot interfaces (`raInterfaces`: the explicit list, or the
 * subnets' interfaces); otherwise returns null (and says what iPXE will cost
 * when only the interfaces are missing).
 */
export async function startConfiguredRouterAdvertiser(
  dhcp: {
    enabled: boolean;
    routerAdvertisements: RouterAdvertisementConfig;
    subnets: ReadonlyArray<{ interface?: string | undefined; mode: string }>;
  },
  log: Logger,
  signal?: AbortSignal,
): Promise<RouterAdvertiser | null> {
  const ra = dhcp.routerAdvertisements;
  if (!dhcp.enabled || !ra.enabled) return null;
  const interfaces = raInterfaces(ra, dhcp.subnets);
  if (interfaces.length === 0) {
    log.info(
      { explicit: ra.interfaces !== undefined },
      'router advertisements off: no boot interface (name them in dhcp.routerAdvertisements.interfaces or subnets[].interface), so iPXE waits ~16 s for IPv6 on every boot',
    );
    return null;
  }
  log.info({ interfaces, derived: ra.interfaces === undefined }, 'router advertisements: answering solicitations');
  return startRouterAdvertiser({ interfaces, log: log.child({ domain: 'ra' }), signal });
}
