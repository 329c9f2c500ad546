// Each controller check against fakes of what it reads (and real files where that is cheap).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ipxeCheck, nodeImageCheck } from './boot-files.js';
import { CLOCK_FLOOR, clockCheck } from './clock.js';
import { dataDirCheck } from './data-dir.js';
import { dhcpSocketsCheck, type NetworkView, type ServedDhcpSubnet } from './dhcp-sockets.js';
import { diskCheck } from './disk.js';
import { httpProbeCheck, tftpProbeCheck } from './probes.js';
import { radvdCheck } from './radvd.js';
import { storeCheck } from './store.js';
import { tlsCheck } from './tls.js';
import { decodeTftp, encodeTftp } from '../../protocols/tftp/packet.js';
import { startTftpServer } from '../../boot/tftp/tftp-server.js';
import { createDirectorySource } from '../../boot/tftp/directory-source.js';
import { defaultTftpConfig } from '../../boot/tftp/tftp-config.js';

const signal = new AbortController().signal;
const tmp = () => mkdtempSync(join(tmpdir(), 'kiln-doctor-'));

test('data-dir-permissions: 0700 passes; world-writable, a 0644 key and a missing dir fail with the chmod to run', async () => {
  const dir = tmp();
  chmodSync(dir, 0o700);
  writeFileSync(join(dir, 'data.key'), 'k', { mode: 0o600 });
  const check = dataDirCheck({ dataDir: dir });
  assert.equal((await check.run(signal)).status, 'ok');
  chmodSync(dir, 0o777);
  const bad = await check.run(signal);
  assert.equal(bad.status, 'fail');
  assert.match(bad.detail, /mode 0777/);
  assert.equal(bad.fix, `chmod 0700 ${dir}`);
  chmodSync(dir, 0o700);
  chmodSync(join(dir, 'data.key'), 0o644);
  const key = await check.run(signal);
  assert.equal(key.fix, `chmod 0600 ${join(dir, 'data.key')}`);
  assert.equal((await dataDirCheck({ dataDir: join(dir, 'nope') }).run(signal)).status, 'fail');
  const other = await dataDirCheck({ dataDir: dir, uid: 4242 }).run(signal);
  assert.match(other.fix ?? '', /chown -R 4242/);
});

test('data-dir-disk: thresholds in MiB and percent', async () => {
  const GiB = 1024 ** 3;
  const at = (free: number, size = 100 * GiB) =>
    diskCheck({ dataDir: '/d', free: async () => ({ free, size }) }).run(signal);
  assert.equal((await at(50 * GiB)).status, 'ok');
  assert.equal((await at(3 * GiB)).status, 'warn');
  assert.equal((await at(0.5 * GiB)).status, 'fail');
  assert.equal((await at(1.5 * GiB, 1000 * GiB)).status, 'fail', 'under 2 %');
  const set = (free: number, size = 100 * GiB) =>
    diskCheck({
      dataDir: '/d',
      free: async () => ({ free, size }),
      failMiB: 100,
      warnMiB: 200,
      failPercent: 0.1,
      warnPercent: 0.2,
    }).run(signal);
  assert.equal((await set(0.5 * GiB)).status, 'ok', 'the doctor: section lowers the thresholds');
  assert.equal((await set(150 * 1024 ** 2)).status, 'warn');
  assert.equal((await set(50 * 1024 ** 2)).status, 'fail');
  assert.equal((await set(15 * GiB, 10_000 * GiB)).status, 'warn', 'under 0.2 %');
  assert.equal(
    (await diskCheck({ dataDir: tmp() }).run(signal)).status !== undefined,
    true,
    'statfs of a real dir answers',
  );
});

test('store: no answer and pending migrations fail; both fine passes', async () => {
  const c = (ping: () => Promise<void>, pending: string[]) =>
    storeCheck({ describe: 'sqlite:/x', ping, pending: async () => pending }).run(signal);
  assert.equal((await c(async () => {}, [])).status, 'ok');
  const down = await c(async () => Promise.reject(new Error('ECONNREFUSED')), []);
  assert.equal(down.status, 'fail');
  assert.match(down.detail, /does not answer: ECONNREFUSED/);
  const behind = await c(async () => {}, ['0370-x']);
  assert.match(behind.detail, /lacks migrations 0370-x/);
  assert.match(behind.fix ?? '', /restart kiln serve/);
});

test('clock: before the floor fails, behind the store fails, else ok', async () => {
  const at = (now: number, newest: string | null) =>
    clockCheck({ now: () => now, newestEventAt: async () => newest }).run(signal);
  const t = CLOCK_FLOOR + 86_400_000 * 300;
  assert.equal((await at(t, new Date(t - 1000).toISOString())).status, 'ok');
  assert.equal((await at(t, null)).status, 'ok');
  assert.match((await at(Date.parse('2001-01-01'), null)).detail, /before this Kiln was built/);
  const behind = await at(t, new Date(t + 600_000).toISOString());
  assert.equal(behind.status, 'fail');
  assert.match(behind.detail, /600 s after this clock/);
  assert.match(behind.fix ?? '', /timedatectl set-ntp true/);
  const lenient = (aheadMs: number) =>
    clockCheck({ now: () => t, newestEventAt: async () => new Date(t + 600_000).toISOString(), aheadMs }).run(signal);
  assert.equal((await lenient(900_000)).status, 'ok', 'clockAheadSeconds widens the window');
  assert.equal((await lenient(300_000)).status, 'fail');
});

test('tls-certificate: a real certificate is ok, near its end warns, past its end or before its start fails', async () => {
  const dir = tmp();
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '10',
      '-subj',
      '/CN=t',
      '-keyout',
      join(dir, 'k.pem'),
      '-out',
      join(dir, 'c.pem'),
    ],
    { stdio: 'ignore' },
  );
  const pem = execFileSync('cat', [join(dir, 'c.pem')], { encoding: 'utf8' });
  const at = (now: number, warnDays = 5) =>
    tlsCheck({ certPem: () => pem, source: { kind: 'files', certFile: '/etc/c.pem' }, warnDays, now: () => now }).run(
      signal,
    );
  const day = 86_400_000;
  assert.equal((await at(Date.now())).status, 'ok');
  assert.equal((await at(Date.now() + 7 * day)).status, 'warn');
  const expired = await at(Date.now() + 11 * day);
  assert.equal(expired.status, 'fail');
  assert.match(expired.fix ?? '', /replace \/etc\/c\.pem/);
  assert.equal((await at(Date.now() - 2 * day)).status, 'fail');
  assert.match(
    (await tlsCheck({ certPem: () => null, source: { kind: 'issued' } }).run(signal)).detail,
    /HTTPS is off/,
  );
});

test('ipxe-binaries: each boot file must be readable in ipxe-dir; the fix names the package and the setting', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'undionly.kpxe'), 'x');
  const c = ipxeCheck({ dir, required: ['undionly.kpxe', 'ipxe.efi'], optional: ['ipxe-arm64.efi'] });
  const r = await c.run(signal);
  assert.equal(r.status, 'fail');
  assert.match(r.detail, /ipxe\.efi$/);
  assert.match(r.fix ?? '', /apt-get install ipxe.*--ipxe-dir/);
  writeFileSync(join(dir, 'ipxe.efi'), 'x');
  const arm = await c.run(signal);
  assert.equal(arm.status, 'warn');
  assert.match(arm.detail, /missing: ipxe-arm64\.efi/);
  writeFileSync(join(dir, 'ipxe-arm64.efi'), 'x');
  assert.equal((await c.run(signal)).status, 'ok');
});

test('node-image: off and ready pass, building warns, a failed build fails', async () => {
  const dir = tmp();
  const at = async (s: Parameters<typeof nodeImageCheck>[0]['state']) =>
    (await nodeImageCheck({ state: s }).run(signal)).status;
  assert.equal(await at(() => ({ kind: 'off' })), 'ok');
  assert.equal(await at(() => ({ kind: 'ready', dir })), 'ok');
  assert.equal(await at(() => ({ kind: 'ready', dir: join(dir, 'gone') })), 'fail');
  assert.equal(await at(() => ({ kind: 'building' })), 'warn');
  assert.equal(await at(() => ({ kind: 'failed', error: 'mirror unreachable' })), 'fail');
});

test("node-image: says what is served without an image of its own: a peer's version fetched or not yet, its own build", async () => {
  const dir = tmp();
  const run = async (
    state: Parameters<typeof nodeImageCheck>[0]['state'],
    served: Awaited<ReturnType<NonNullable<Parameters<typeof nodeImageCheck>[0]['served']>>>,
  ) => nodeImageCheck({ state, served: async () => served }).run(signal);
  const V = '6.1.0-9-amd64-0123456789ab';
  const cases = [
    {
      name: 'off, a peer version not fetched yet',
      r: await run(() => ({ kind: 'off' }), {
        source: 'peer',
        version: V,
        recordedBy: 'kiln-a',
        fetched: [],
        missing: ['vmlinuz', 'initrd.img'],
      }),
      status: 'ok',
      detail: `node-image is off here; serving version ${V} recorded by kiln-a; not fetched yet: vmlinuz, initrd.img (fetched from a peer at the first request)`,
    },
    {
      name: 'off, a peer version half fetched',
      r: await run(() => ({ kind: 'off' }), {
        source: 'peer',
        version: V,
        recordedBy: 'kiln-a',
        fetched: ['vmlinuz'],
        missing: ['initrd.img'],
      }),
      status: 'ok',
      detail: `node-image is off here; serving version ${V} recorded by kiln-a; fetched from peers and checked: vmlinuz; not fetched yet: initrd.img (fetched from a peer at the first request)`,
    },
    {
      name: 'building, a peer version fetched',
      r: await run(() => ({ kind: 'building' }), {
        source: 'peer',
        version: V,
        recordedBy: 'kiln-a',
        fetched: ['vmlinuz', 'initrd.img'],
        missing: [],
      }),
      status: 'warn',
      detail: `the node image is still being built; serving version ${V} recorded by kiln-a; fetched from peers and checked: vmlinuz, initrd.img`,
    },
    {
      name: 'off, nothing recorded',
      r: await run(() => ({ kind: 'off' }), null),
      status: 'ok',
      detail:
        'node-image is off here; no member has recorded a node image, so discovery boots through this member get 404 until one does',
    },
    {
      name: 'failed, its own earlier build',
      r: await run(() => ({ kind: 'failed', error: 'mirror unreachable' }), { source: 'built', version: V }),
      status: 'fail',
      detail: `the node image could not be built: mirror unreachable; serving version ${V} from its own earlier build`,
    },
    {
      name: 'ready, its own build',
      r: await run(() => ({ kind: 'ready', dir }), { source: 'own', version: V }),
      status: 'ok',
      detail: `node image ready in ${dir} (own build, version ${V})`,
    },
  ];
  for (const c of cases) assert.deepEqual([c.r.status, c.r.detail], [c.status, c.detail], c.name);
});

test('radvd: not configured passes saying so; a dead or replaced pid fails', async () => {
  assert.match((await radvdCheck({ interfaces: null, pid: () => null }).run(signal)).detail, /not configured/);
  const c = (pid: number | null, name: string | null) =>
    radvdCheck({ interfaces: ['br0'], pid: () => pid, name: async () => name }).run(signal);
  assert.equal((await c(12, 'radvd')).status, 'ok');
  assert.equal((await c(null, null)).status, 'fail');
  assert.match((await c(12, 'bash')).detail, /now bash/);
  // The real /proc reader: this process is not radvd.
  assert.match(
    (await radvdCheck({ interfaces: ['br0'], pid: () => process.pid }).run(signal)).detail,
    /now node|now MainThread/,
  );
});

test('dhcp-sockets: bound, up and addressed passes; a missing socket, a down link, a lost address and a relayed subnet without a route fail', async () => {
  const net = (o: Partial<{ up: boolean; addr: string; route: string | null }> = {}): NetworkView => ({
    addresses: async () => [{ interface: 'eth1', address: o.addr ?? '10.96.1.1' }],
    linkUp: async () => o.up ?? true,
    routeDev: async () => (o.route === undefined ? 'eth0' : o.route),
  });
  const c = (
    n: NetworkView,
    listeners = [{ interface: 'eth1' as string | undefined, port: 67 }],
    subnets: ServedDhcpSubnet[] = [{ cidr: '10.96.1.0/24', interface: 'eth1' }],
  ) => dhcpSocketsCheck({ enabled: true, subnets, listeners: () => listeners, net: n }).run(signal);
  assert.equal((await c(net())).status, 'ok');
  assert.match((await c(net(), [{ interface: 'eth2', port: 67 }])).detail, /no DHCP socket bound on eth1/);
  assert.equal((await c(net({ up: false }))).fix, 'ip link set eth1 up');
  assert.match((await c(net({ addr: '10.0.0.1' }))).detail, /no longer holds an address in 10\.96\.1\.0\/24/);
  const relayed: ServedDhcpSubnet[] = [{ cidr: '10.96.9.0/24' }];
  assert.equal((await c(net(), [], relayed)).status, 'ok');
  assert.match((await c(net({ route: null }), [], relayed)).detail, /no route for replies/);
  assert.equal(
    (await dhcpSocketsCheck({ enabled: false, subnets: [], listeners: () => null, net: net() }).run(signal)).detail,
    'DHCP is off',
  );
});

test('tftp-probe and http-probe: a real answering server passes, a silent port fails', async () => {
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  udp.on('message', (msg, from) => {
    const req = decodeTftp(new Uint8Array(msg));
    assert.equal(req.op, 'rrq');
    udp.send(encodeTftp({ op: 'error', code: 1, message: 'not found' }), from.port, from.address);
  });
  const silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  const http = createServer((_q, s) => s.end('{"status":"ok"}'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  try {
    const port = udp.address().port;
    assert.match(
      (await tftpProbeCheck({ address: () => ({ address: '0.0.0.0', port }) }).run(signal)).detail,
      /answered a read request \(error\)/,
    );
    assert.equal(
      (
        await tftpProbeCheck({
          address: () => ({ address: '127.0.0.1', port: silent.address().port }),
          timeoutMs: 200,
        }).run(signal)
      ).status,
      'fail',
    );
    assert.equal((await tftpProbeCheck({ address: () => null }).run(signal)).detail, 'TFTP is off');
    const hp = (http.address() as { port: number }).port;
    assert.equal((await httpProbeCheck({ url: () => `http://127.0.0.1:${hp}` }).run(signal)).status, 'ok');
    const down = await httpProbeCheck({ url: () => `http://127.0.0.1:${silent.address().port}`, timeoutMs: 300 }).run(
      signal,
    );
    assert.equal(down.status, 'fail');
  } finally {
    udp.close();
    silent.close();
    http.close();
  }
});

test("tftp-probe against Kiln's own TFTP server: the probe name is answered (ERROR), which passes", async () => {
  const server = await startTftpServer({
    config: { ...defaultTftpConfig, address: '127.0.0.1', engine: 'js' },
    source: await createDirectorySource(tmp()),
    port: 0,
  });
  try {
    const r = await tftpProbeCheck({ address: () => server.address }).run(signal);
    assert.equal(r.status, 'ok', r.detail);
    assert.match(r.detail, /\(error\)/);
  } finally {
    await server.close();
  }
});
