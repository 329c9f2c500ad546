// Test support: network namespaces joined to the root namespace by a veth pair.
// Every namespace is created by the test that uses it and removed in its
// cleanup; names carry the test process id so parallel runs never collide.
// Traffic stays between the two ends of the pair (addresses the test picks).
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** A namespace and its veth pair: `hostIf` lives in the root namespace, `nsIf` inside `name`. */
export interface TestNetns {
  name: string;
  hostIf: string;
  nsIf: string;
  /** Runs a command inside the namespace and returns its stdout; throws on a non-zero exit. */
  exec(cmd: string, args: string[], timeoutMs?: number): string;
  /** Starts a long-running command inside the namespace. The caller stops it by PID. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Deletes the namespace (and with it the veth pair). Safe to call twice. */
  remove(): void;
}

let counter = 0;

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

/**
 * Refuses a subnet in which an interface of the root namespace already holds an address (a namespace another test left
 * behind, or two tests sharing a subnet): the test would then talk to the leftover, not its own bed. A leftover of
 * this same test (`kh<tag>…`, from a run killed before its cleanup: integration files run one at a time, so no
 * live run of this tag exists) is removed first, with its namespace, and said on stderr.
 */
function assertSubnetFree(cidr: string, tag: string): void {
  // `ip addr show to <addr>/<len>` lists every address inside that prefix.
  const held = () =>
    execFileSync('ip', ['-o', '-4', 'addr', 'show', 'to', cidr], { encoding: 'utf8', timeout: 10_000 });
  const own = new RegExp(`^\\d+: (kh${tag.slice(0, 4)}(\\d+))\\s`);
  for (const line of held().split('\n')) {
    const m = own.exec(line);
    if (!m) continue;
    process.stderr.write(`createNetns: removing a leftover bed of this test: ${m[1]} (namespace kt${tag}${m[2]})\n`);
    try {
      ip(['netns', 'del', `kt${tag}${m[2]}`.slice(0, 30)]);
    } catch {
      /* already gone */
    }
    try {
      ip(['link', 'del', m[1]!]);
    } catch {
      /* gone with its namespace */
    }
  }
  const left = held();
  if (left.trim() !== '')
    throw new Error(`createNetns: the root namespace already has an address in ${cidr} (a leftover bed?):\n${left}`);
}

/** True when this process may create namespaces (root with iproute2). */
export function canUseNetns(): boolean {
  try {
    const probe = `ktprobe${process.pid}`;
    ip(['netns', 'add', probe]);
    ip(['netns', 'del', probe]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates namespace `kt<tag><pid><n>` with a veth pair. `hostAddr` (CIDR) is set
 * on the root end, `nsAddr` (CIDR, optional: a DHCP client test leaves it empty)
 * inside. Interface names stay within the 15-character limit.
 */
export function createNetns(tag: string, hostAddr: string, nsAddr?: string): TestNetns {
  assertSubnetFree(hostAddr, tag);
  const n = counter++;
  const id = `${process.pid % 100000}${n}`;
  const name = `kt${tag}${id}`.slice(0, 30);
  const hostIf = `kh${tag.slice(0, 4)}${id}`.slice(0, 15);
  const nsIf = `kn${tag.slice(0, 4)}${id}`.slice(0, 15);
  ip(['netns', 'add', name]);
  try {
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    ip(['link', 'set', nsIf, 'netns', name]);
    ip(['addr', 'add', hostAddr, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
    ip(['-n', name, 'link', 'set', nsIf, 'up']);
    if (nsAddr) ip(['-n', name, 'addr', 'add', nsAddr, 'dev', nsIf]);
  } catch (err) {
    try {
      ip(['netns', 'del', name]);
    } catch {
      /* already gone */
    }
    try {
      ip(['link', 'del', hostIf]);
    } catch {
      /* already gone */
    }
    throw err;
  }
  let removed = false;
  return {
    name,
    hostIf,
    nsIf,
    exec: (cmd, args, timeoutMs = 30_000) =>
      execFileSync('ip', ['netns', 'exec', name, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs }),
    spawn: (cmd, args, opts = {}) => spawn('ip', ['netns', 'exec', name, cmd, ...args], opts),
    remove() {
      if (removed) return;
      removed = true;
      try {
        ip(['link', 'del', hostIf]);
      } catch {
        /* deleted with the namespace */
      }
      try {
        ip(['netns', 'del', name]);
      } catch {
        /* already gone */
      }
    },
  };
}
