// A hostile template must not stall the data plane. A real `kiln serve`
// process (DHCP on the root end of a test veth pair, HTTP on loopback) is
// asked to deploy a profile whose template runs for minutes in one filter
// call; while that deploy is in flight, busybox udhcpc in the namespace gets a
// lease, and /boot.ipxe and /api/v1/health answer. Before rendering moved to
// a worker thread, all three waited for the render to end.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { canUseNetns, createNetns, type TestNetns } from '../../test/support/netns.js';
import { startServe, type ServeProcess } from '../../test/support/serve-process.js';

const skip = !canUseNetns() ? 'needs root and iproute2 (network namespaces)' : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-render-iso-'));
const namespaces: TestNetns[] = [];
const children: ChildProcess[] = [];
let serve: ServeProcess | null = null;
after(async () => {
  for (const c of children)
    if (c.exitCode === null && c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  if (serve && serve.child.exitCode === null && serve.child.pid) {
    serve.child.kill('SIGTERM');
    const force = setTimeout(() => serve?.child.kill('SIGKILL'), 10_000);
    await serve.exited;
    clearTimeout(force);
  }
  for (const ns of namespaces) ns.remove();
  rmSync(work, { recursive: true, force: true });
});

const profileYaml = `name: hostile
description: one filter call that runs for minutes
os: { family: debian, version: "12" }
arch: x86_64
install:
  method: preseed
boot:
  kernel: "http://deb.example.org/linux"
  initrd: ["http://deb.example.org/initrd.gz"]
  cmdline: "auto=true url={{ kiln.filesUrl }}/preseed.cfg"
files:
  - name: preseed.cfg
    template: templates/preseed.cfg
`;
// where_exp evaluates "a | sum" once per element with no clock check: 10^10 additions.
const hostileTemplate = '{% assign a = (1..100000) %}{% assign r = a | where_exp: "x", "a | sum" %}{{ r | size }}\n';

/** Runs udhcpc once in the namespace (not blocking this event loop); resolves with the leased address or null, and when it ended. */
function udhcpc(ns: TestNetns): Promise<{ ip: string | null; at: number }> {
  const out = join(work, 'udhcpc.env');
  const script = join(work, 'udhcpc.sh');
  writeFileSync(script, `#!/bin/sh\n[ "$1" = bound ] && env > "$KILN_OUT"\nexit 0\n`, { mode: 0o755 });
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns.name,
      'env',
      `KILN_OUT=${out}`,
      'busybox',
      'udhcpc',
      '-i',
      ns.nsIf,
      '-n',
      '-q',
      '-f',
      '-t',
      '4',
      '-T',
      '1',
      '-A',
      '1',
      '-s',
      script,
    ],
    { stdio: 'ignore' },
  );
  children.push(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('exit', () => {
      clearTimeout(timer);
      const at = performance.now();
      if (!existsSync(out)) {
        resolve({ ip: null, at });
        return;
      }
      const ip = /^ip=(.*)$/m.exec(readFileSync(out, 'utf8'))?.[1] ?? null;
      resolve({ ip, at });
    }),
  );
}

test(
  'while a hostile template renders, DHCP (udhcpc), /boot.ipxe and /api/v1/health answer; the deploy fails with the time limit',
  { skip, timeout: 120_000 },
  async () => {
    const ns = createNetns('ri', '10.87.0.1/24');
    namespaces.push(ns);
    const profiles = join(work, 'profiles');
    mkdirSync(join(profiles, 'hostile', 'templates'), { recursive: true });
    writeFileSync(join(profiles, 'hostile', 'profile.yaml'), profileYaml);
    writeFileSync(join(profiles, 'hostile', 'templates', 'preseed.cfg'), hostileTemplate);
    const cfg = join(work, 'kiln.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        dhcp: {
          enabled: true,
          serverAddress: '10.87.0.1',
          httpBase: 'http://10.87.0.1:8080',
          subnets: [
            {
              cidr: '10.87.0.0/24',
              mode: 'full',
              interface: ns.hostIf,
              pools: [{ start: '10.87.0.100', end: '10.87.0.150' }],
              router: '10.87.0.1',
              dns: [],
              leaseSeconds: 600,
            },
          ],
        },
      }),
    );
    const dataDir = join(work, 'data');
    const timeoutMs = 3000;
    serve = await startServe(
      [
        '--config',
        cfg,
        '--data-dir',
        dataDir,
        '--profiles-dir',
        profiles,
        '--power-poll-interval',
        '0',
        '--template-timeout-ms',
        String(timeoutMs),
      ],
      {},
      60_000,
    );
    for (let i = 0; i < 100 && !/DHCP serving/.test(serve.output()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(serve.output(), /DHCP serving/);
    const url = serve.url;
    const auth = {
      authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}`,
      'content-type': 'application/json',
    };
    const created = await fetch(`${url}/api/v1/hosts`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        name: 'victim',
        nics: [{ mac: '52:54:00:83:00:01' }],
        profile: 'hostile',
        state: 'ready',
      }),
    });
    assert.equal(created.status, 201, await created.text());

    let deployDone = Number.POSITIVE_INFINITY;
    const deploy = fetch(`${url}/api/v1/hosts/victim/deploy`, {
      method: 'POST',
      headers: auth,
      body: '{}',
      signal: AbortSignal.timeout(60_000),
    }).then(async (r) => {
      deployDone = performance.now();
      return { status: r.status, body: (await r.json()) as { error: { code: string; message: string } } };
    });
    await new Promise((r) => setTimeout(r, 300));
    const lease = udhcpc(ns);
    const answered: Array<{ what: string; status: number; at: number }> = [];
    for (let i = 0; i < 5; i++) {
      for (const path of ['/boot.ipxe', '/api/v1/health']) {
        const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        answered.push({ what: path, status: res.status, at: performance.now() });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const dhcp = await lease;
    const d = await deploy;

    assert.equal(d.status, 422, JSON.stringify(d.body));
    assert.equal(d.body.error.code, 'template_error');
    assert.match(d.body.error.message, /template-timeout-ms/);
    assert.equal(dhcp.ip, '10.87.0.100', 'udhcpc got no lease');
    assert.ok(dhcp.at < deployDone, 'the DHCP lease must come while the template renders');
    for (const a of answered) {
      assert.equal(a.status, 200, a.what);
      assert.ok(a.at < deployDone, `${a.what} must answer while the template renders`);
    }
    // The controller is still whole afterwards.
    assert.equal((await fetch(`${url}/api/v1/health`)).status, 200);
  },
);
