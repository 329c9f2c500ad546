// The discovery image's syslog path, end to end with its real scripts and real
// peers: a `kiln serve` process (DHCP full mode and syslog on UDP 514, on the
// root end of a test veth pair) and, in the namespace, busybox syslogd with the
// boot buffer /init starts, the agent's `log`, busybox udhcpc running
// node/agent/udhcpc.sh (which reads DHCP option 7), and syslog_forward, which
// restarts syslogd with -R and replays the buffered lines. The lines logged
// before and after the network came up arrive attributed to the host by its
// lease, tagged with the boot session.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { canUseNetns, createNetns, type TestNetns } from '../../test/support/netns.js';
import { startServe, type ServeProcess } from '../../test/support/serve-process.js';

const agentDir = fileURLToPath(new URL('../../node/agent', import.meta.url));
const busybox = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
})();
const skip = !canUseNetns() ? 'needs root and iproute2 (network namespaces)' : !busybox ? 'needs busybox' : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-syslog-fwd-'));
const namespaces: TestNetns[] = [];
let serve: ServeProcess | null = null;
after(async () => {
  if (serve && serve.child.exitCode === null) {
    serve.child.kill('SIGTERM');
    const force = setTimeout(() => serve?.child.kill('SIGKILL'), 10_000);
    await serve.exited;
    clearTimeout(force);
  }
  for (const ns of namespaces) ns.remove();
  rmSync(work, { recursive: true, force: true });
});

test(
  'discovery image syslog: lines logged before the network are buffered, then forwarded to the log server DHCP option 7 names, with the session',
  { skip, timeout: 120_000 },
  async () => {
    const ns = createNetns('sf', '10.61.0.1/24');
    namespaces.push(ns);
    const nsMac = ns.exec('cat', [`/sys/class/net/${ns.nsIf}/address`]).trim();
    const cfg = join(work, 'kiln.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        dhcp: {
          enabled: true,
          serverAddress: '10.61.0.1',
          httpBase: 'http://10.61.0.1:8080',
          subnets: [
            {
              cidr: '10.61.0.0/24',
              mode: 'full',
              interface: ns.hostIf,
              pools: [{ start: '10.61.0.100', end: '10.61.0.150' }],
              dns: [],
              leaseSeconds: 600,
            },
          ],
        },
        syslog: { enabled: true, address: '10.61.0.1', tcp: false },
      }),
    );
    const dataDir = join(work, 'data');
    serve = await startServe(['--config', cfg, '--data-dir', dataDir, '--power-poll-interval', '0'], {}, 60_000);
    for (let i = 0; i < 100 && !/syslog receiver listening/.test(serve.output()); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(serve.output(), /syslog receiver listening/);
    const auth = { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}` };
    const made = await fetch(`${serve.url}/api/v1/hosts`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'fwd1', nics: [{ mac: nsMac }] }),
    });
    assert.equal(made.status, 201, await made.text());

    // busybox applets first on PATH; /dev and /var/run private to this run (syslogd's /dev/log and pid file).
    const bin = join(work, 'bin');
    mkdirSync(bin);
    for (const a of ['syslogd', 'logger', 'logread', 'udhcpc']) symlinkSync(busybox, join(bin, a));
    const run = join(work, 'run');
    const script = join(work, 'node.sh');
    writeFileSync(
      script,
      `set -u
mount -t tmpfs tmpfs /dev && mount -t tmpfs tmpfs /var/run && mknod -m 666 /dev/null c 1 3 || exit 2
# udhcpc.sh rewrites /etc/resolv.conf: a scratch file stands in for it in this private mount namespace.
mount --bind ${join(work, 'resolv.conf')} /etc/resolv.conf || exit 2
export PATH=${bin}:$PATH KILN_RUN=${run} KILN_LIB=${agentDir} KILN_SESSION=3f2a9c1b7d4e
mkdir -p "$KILN_RUN"
syslogd -C256 && export KILN_SYSLOG=1
. "$KILN_LIB/lib.sh"; . "$KILN_LIB/net.sh"
syslogd_ready
log "logged before the network was up"
udhcpc -i ${ns.nsIf} -n -q -t 4 -T 1 -A 1 -O 7 -s "$KILN_LIB/udhcpc.sh" || exit 3
syslog_forward
log "logged after the network was up"
sleep 1
kill $(cat /var/run/syslogd.pid)
cat "$KILN_RUN/logsrv"
echo "replayed: $(ls "$KILN_RUN")"
`,
    );
    writeFileSync(join(work, 'resolv.conf'), '');
    const resolvBefore = readFileSync('/etc/resolv.conf', 'utf8');
    let out: string;
    try {
      // --propagation private: the mounts above stay inside the script's namespace.
      out = ns.exec('unshare', ['-m', '--propagation', 'private', 'sh', script], 60_000);
    } finally {
      assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), resolvBefore, "the machine's resolv.conf is untouched");
    }
    assert.match(out, /^10\.61\.0\.1$/m, 'udhcpc saw option 7 naming the controller');

    let texts: string[] = [];
    for (let i = 0; i < 50 && texts.filter((t) => /logged (before|after)/.test(t)).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const res = await fetch(`${serve.url}/api/v1/hosts/fwd1/logs?session=3f2a9c1b7d4e`, { headers: auth });
      assert.equal(res.status, 200);
      texts = ((await res.json()) as { items: Array<{ text: string }> }).items.map((m) => m.text);
    }
    assert.ok(
      texts.some((t) => /logged before the network was up/.test(t)),
      `the buffered line arrived: ${JSON.stringify(texts)}`,
    );
    assert.ok(
      texts.some((t) => /logged after the network was up/.test(t)),
      JSON.stringify(texts),
    );
  },
);
