// The bed both QEMU end-to-end files (deploy-qemu, deploy-debian) run in: a
// network namespace of the test's own, joined to the root namespace by a veth
// on <net>.0.0/24 (root end .254, namespace end .1), with a bridge kbr0 on
// <net>.1.0/24 (Kiln at .1) whose ports are one tap per VM NIC, and `kiln
// serve` inside it (DHCP full mode on the bridge, pool .100–.150, HTTP 8080,
// HTTPS 8443), ready once its health answers, its DHCP serves and its node
// image is built.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, type TestNetns } from '../support/netns.js';
import { kilnBin } from '../support/serve-process.js';
import { stopChild } from '../support/process.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
export const HTTP_PORT = 8080;
const HTTPS_PORT = 8443;

/**
 * Creates the namespace (`tag`: a few letters of its name) with its veth on
 * `<net>.0.0/24` and the bridge `kbr0` holding `<net>.1.1/24`, one tap per
 * name in `taps`. The caller removes it (`ns.remove()`).
 */
export function createBridgeNetns(tag: string, net: string, taps: string[]): TestNetns {
  const ns = createNetns(tag, `${net}.0.254/24`, `${net}.0.1/24`);
  const x = (...args: string[]) => ns.exec('ip', args);
  // forward_delay 0: a tap port forwards as soon as QEMU opens it (no STP here).
  x('link', 'add', 'kbr0', 'type', 'bridge', 'forward_delay', '0');
  x('addr', 'add', `${net}.1.1/24`, 'dev', 'kbr0');
  x('link', 'set', 'kbr0', 'up');
  for (const tap of taps) {
    x('tuntap', 'add', 'dev', tap, 'mode', 'tap');
    x('link', 'set', tap, 'master', 'kbr0');
    x('link', 'set', tap, 'up');
  }
  // Limited broadcasts (DHCP replies to 255.255.255.255) leave by the bridge, inside the namespace only.
  x('route', 'add', 'default', 'dev', 'kbr0');
  return ns;
}

/** `kiln serve` running in the bed. */
export interface BedServe {
  child: ChildProcess;
  /** The API as the test reaches it, through the veth. */
  api: string;
  /** The admin token the first start wrote. */
  token: string;
  /** Everything kiln serve printed so far. */
  log(): string;
}

/**
 * Starts `kiln serve` in `ns` (made by `createBridgeNetns` with the same
 * `net`) on `dataDir`, with `config` beside the DHCP section in its
 * kiln.yaml and `args` after the common flags, and waits up to `readyMs`
 * until it is ready. On failure it stops the process and throws with Kiln's
 * log tail.
 */
export async function startBedServe(
  ns: TestNetns,
  opts: {
    net: string;
    work: string;
    dataDir: string;
    readyMs: number;
    config?: Record<string, unknown>;
    args?: string[];
  },
): Promise<BedServe> {
  const { net } = opts;
  const server = `${net}.1.1`;
  const cfg = join(opts.work, 'kiln.yaml');
  writeFileSync(
    cfg,
    JSON.stringify({
      ...opts.config,
      dhcp: {
        enabled: true,
        serverAddress: server,
        httpBase: `http://${server}:${HTTP_PORT}`,
        subnets: [
          {
            cidr: `${net}.1.0/24`,
            mode: 'full',
            pools: [{ start: `${net}.1.100`, end: `${net}.1.150` }],
            router: server,
            dns: [],
            leaseSeconds: 3600,
            attached: true,
          },
        ],
      },
    }),
  );
  // HTTPS on: the writer's late step fetches secrets and its host certificate over it only.
  const child = ns.spawn(
    process.execPath,
    [
      kilnBin,
      'serve',
      '--config',
      cfg,
      '--data-dir',
      opts.dataDir,
      '--listen',
      `0.0.0.0:${HTTP_PORT}`,
      '--tls-listen',
      `0.0.0.0:${HTTPS_PORT}`,
      '--public-url',
      `http://${server}:${HTTP_PORT}`,
      '--node-image',
      'auto',
      '--power-poll-interval',
      '0',
      '--log-level',
      'debug',
      ...(opts.args ?? []),
    ],
    { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout!.on('data', (d) => {
    log += d;
  });
  child.stderr!.on('data', (d) => {
    log += d;
  });
  const api = `http://${net}.0.1:${HTTP_PORT}`;
  const deadline = Date.now() + opts.readyMs;
  let lastHealth = 'no attempt yet';
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kiln serve exited early:\n${log}`);
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(
        `kiln serve not ready (health, DHCP, node image) within ${opts.readyMs / 1000} s; last health answer: ${lastHealth}\n` +
          `root namespace addresses:\n${execFileSync('ip', ['-o', '-4', 'addr'], { encoding: 'utf8' })}\n${log.slice(-6000)}`,
      );
    }
    try {
      const health = await fetch(`${api}/api/v1/health`, { signal: AbortSignal.timeout(1000) });
      lastHealth = `HTTP ${health.status}`;
      if (health.ok && /DHCP serving/.test(log) && /node image ready/.test(log)) break;
    } catch (err) {
      lastHealth = `${String(err)} ${String((err as { cause?: unknown }).cause ?? '')}`;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    child,
    api,
    token: readFileSync(join(opts.dataDir, 'admin-token'), 'utf8').trim(),
    log: () => log,
  };
}
