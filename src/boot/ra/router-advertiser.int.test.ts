// Real radvd, started by Kiln's supervisor, answers a real router
// solicitation (ndisc6's rdisc6) across a veth pair between two namespaces
// this file creates; tcpdump on the client side records both packets. Nothing
// touches the root namespace. Shows: the RA comes within 0.5 s, router
// lifetime 0, no prefix (or any other) option but the source link-layer
// address, unicast to the soliciting host, no unsolicited RA; a killed radvd
// is restarted and answers again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createMemoryLogger } from '../../log/logger.js';
import { RADVD_PATH, startRouterAdvertiser, type RouterAdvertiser } from './router-advertiser.js';

function hasTool(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
function isRoot(): boolean {
  return process.getuid?.() === 0;
}
const skip =
  !isRoot() || !hasTool('ip')
    ? 'needs root and iproute2 (network namespaces)'
    : !existsSync(RADVD_PATH)
      ? "needs Debian's radvd package"
      : !hasTool('rdisc6')
        ? "needs Debian's ndisc6 package (rdisc6)"
        : !hasTool('tcpdump')
          ? 'needs tcpdump'
          : false;

const id = `${process.pid % 100000}`;
const SERVER_NS = `ktras${id}`;
const CLIENT_NS = `ktrac${id}`;
const SERVER_IF = `kras${id}`;
const CLIENT_IF = `krac${id}`;
let created = false;
let ra: RouterAdvertiser | undefined;
let capture: ChildProcess | undefined;
let captured = '';
const log = createMemoryLogger();

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
const inNs = (ns: string, cmd: string, args: string[], timeout = 10_000): string =>
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout });

async function until<T>(what: string, probe: () => T | undefined | null | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The interface's link-local address once duplicate address detection is over. */
const linkLocal = (ns: string, dev: string): string | undefined => {
  const out = ip('-n', ns, '-6', 'addr', 'show', 'dev', dev, 'scope', 'link');
  return /tentative/.test(out) ? undefined : out.match(/inet6 (fe80::[0-9a-f:]+)\//)?.[1];
};

before(async () => {
  if (skip) return;
  ip('netns', 'add', SERVER_NS);
  created = true;
  ip('netns', 'add', CLIENT_NS);
  ip('link', 'add', SERVER_IF, 'netns', SERVER_NS, 'type', 'veth', 'peer', 'name', CLIENT_IF, 'netns', CLIENT_NS);
  ip('-n', SERVER_NS, 'link', 'set', SERVER_IF, 'up');
  ip('-n', CLIENT_NS, 'link', 'set', CLIENT_IF, 'up');
  // -l: line-buffered; -tt: epoch timestamps; -vv: RA fields and every option.
  capture = spawn(
    'ip',
    [
      'netns',
      'exec',
      CLIENT_NS,
      'tcpdump',
      '-i',
      CLIENT_IF,
      '-n',
      '-l',
      '-tt',
      '-vv',
      'icmp6 and (ip6[40] == 133 or ip6[40] == 134)',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  capture.stdout!.on('data', (d) => {
    captured += d;
  });
  let listening = '';
  capture.stderr!.on('data', (d) => {
    listening += d;
  });
  await until('tcpdump to listen', () => /listening on/.test(listening));
  await until('server link-local address', () => linkLocal(SERVER_NS, SERVER_IF));
  await until('client link-local address', () => linkLocal(CLIENT_NS, CLIENT_IF));
  ra = await startRouterAdvertiser({
    interfaces: [SERVER_IF],
    log,
    // `ip netns exec` execs its command, so the child's PID is setpriv's, then radvd's (exec again).
    spawn: (cmd, args) =>
      spawn('ip', ['netns', 'exec', SERVER_NS, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] }),
    restart: { firstDelayMs: 200 },
  });
});

after(async () => {
  await ra?.close();
  if (capture?.pid && capture.exitCode === null) process.kill(capture.pid, 'SIGTERM');
  if (created) {
    try {
      ip('netns', 'del', CLIENT_NS);
    } catch {
      /* not created */
    }
    try {
      ip('netns', 'del', SERVER_NS);
    } catch {
      /* already gone */
    }
  }
});

interface Packet {
  at: number;
  kind: 'rs' | 'ra';
  src: string;
  dst: string;
  text: string;
}

/** tcpdump -tt -vv text split into packets (a header line, then indented detail lines). */
function packets(): Packet[] {
  return captured.split(/\n(?=\d+\.\d+ )/).flatMap((block) => {
    const head = block.match(
      /^(\d+\.\d+) IP6 .*?\) (\S+) > (\S+): \[icmp6 sum ok\] ICMP6, router (solicitation|advertisement)/,
    );
    return head
      ? [
          {
            at: Number(head[1]) * 1000,
            src: head[2],
            dst: head[3],
            kind: head[4] === 'solicitation' ? ('rs' as const) : ('ra' as const),
            text: block,
          },
        ]
      : [];
  });
}

/** Sends one RS with rdisc6 (one try) and returns its output and the RS and RA tcpdump saw. */
async function solicit(): Promise<{ out: string; rs: Packet; ra: Packet }> {
  const seen = packets().length;
  const out = inNs(CLIENT_NS, 'rdisc6', ['-1', '-r', '1', '-w', '2000', CLIENT_IF]);
  const [rs, reply] = await until(
    'RS and RA in the capture',
    () => {
      const fresh = packets().slice(seen);
      const s = fresh.find((p) => p.kind === 'rs');
      const a = fresh.find((p) => p.kind === 'ra');
      return s && a ? ([s, a] as const) : undefined;
    },
    3000,
  );
  return { out, rs, ra: reply };
}

test(
  'an RS on the boot interface gets an RA at once: router lifetime 0, no prefix, unicast',
  { skip, timeout: 30_000 },
  async () => {
    // UnicastOnly: radvd sends nothing by itself (the capture has run since before radvd started).
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(
      packets().filter((p) => p.kind === 'ra'),
      [],
      'no unsolicited RA',
    );

    const { out, rs, ra: adv } = await solicit();
    const delay = adv.at - rs.at;
    process.stderr.write(`RS→RA ${delay.toFixed(1)} ms\n${adv.text}\n`);
    assert.ok(delay >= 0 && delay <= 500, `RA ${delay} ms after the RS (RFC 4861 §6.2.6 allows up to 0.5 s)`);
    // The client's view (rdisc6).
    assert.match(out, /Router lifetime\s+:\s+0 \(0x00000000\) seconds/);
    assert.match(out, /Stateful address conf\.\s+:\s+No/);
    assert.match(out, /Stateful other conf\.\s+:\s+No/);
    // rdisc6 prints each option on a line of its own: only the source link-layer address is there.
    assert.doesNotMatch(out, /^ *(Prefix|Route |MTU|Recursive DNS|DNS search)/m);
    // The wire (tcpdump): the same fields, answered to the soliciting host only, one option (SLLAO).
    assert.equal(adv.dst, rs.src, 'solicited RA is unicast to the RS source');
    assert.equal(adv.src, linkLocal(SERVER_NS, SERVER_IF));
    assert.match(adv.text, /hop limit 0, Flags \[none\], pref medium, router lifetime 0s/);
    const options = adv.text
      .split('\n')
      .slice(2)
      .map((l) => l.trim())
      .filter((l) => /option \(\d+\)/.test(l));
    assert.deepEqual(
      options.map((l) => l.replace(/,.*$/, '')),
      ['source link-address option (1)'],
      adv.text,
    );
  },
);

test('a killed radvd is restarted by Kiln and answers again', { skip, timeout: 30_000 }, async () => {
  const first = ra!.pid();
  assert.ok(first);
  process.kill(first, 'SIGKILL');
  const second = await until(
    'radvd restarted',
    () => {
      const p = ra!.pid();
      return p !== null && p !== first ? p : undefined;
    },
    5000,
  );
  assert.notEqual(second, first);
  assert.ok(log.lines.some((l) => l.level === 'warn' && l.msg === 'radvd exited; restarting'));
  // radvd needs a moment to set up its socket after exec; rdisc6 tries once per call.
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      const { out } = await solicit();
      assert.match(out, /Router lifetime\s+:\s+0 /);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
  assert.ok(!log.lines.some((l) => l.level === 'error'), JSON.stringify(log.lines.filter((l) => l.level !== 'debug')));
});
