// Power routes and events through the whole controller (inject), with fake
// drivers registered as extra drivers so the test can see each machine.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { createMemoryLogger } from '../log/logger.js';
import { createBrokenPowerDriver, createFakePowerDriver, type FakeMachine } from './fake/fake-power-driver.js';
import type { PowerCapabilities, SystemSummary } from './power-driver.js';

const secret = 'Lab-BMC-pa55word-7731';
const machines = new Map<string, FakeMachine>();
const replies: string[] = [];
const logger = createMemoryLogger();

// `lab`: a fake per address (capabilities and systems from the options); `echo`: a
// broken BMC whose error text repeats the password; `hung`: never answers.
/** An event as the API lists it (the fields these tests read). */
interface EventJson {
  kind: string;
  actor: string;
  reason: string;
  data: { operation?: string };
}

const extraDrivers = {
  lab: (s: { address: string; options?: Record<string, unknown> }) => {
    const f = createFakePowerDriver({
      capabilities: s.options?.['caps'] as Partial<PowerCapabilities> | undefined,
      systems: s.options?.['systems'] as SystemSummary[] | undefined,
    });
    const old = machines.get(s.address);
    if (old) f.machine.power = old.power;
    machines.set(s.address, f.machine);
    return f.driver;
  },
  echo: (s: { password?: string }) => createBrokenPowerDriver(`login refused for password ${s.password}`),
  hung: () => createFakePowerDriver({ hang: true }).driver,
};

describe('power routes', () => {
  let c: TestController;
  before(async () => {
    c = await createTestController({
      log: logger,
      powerConfig: { allowFake: true, timeoutMs: 400, maxConcurrent: 4, extraDrivers },
    });
  });
  after(async () => {
    await c.close();
    // Every reply, event and log line of this file: the password never appears.
    const events = JSON.stringify(await c.inventory.listEvents({ limit: 10_000 }).catch(() => []));
    for (const [what, text] of [
      ['replies', replies.join('\n')],
      ['logs', JSON.stringify(logger.lines)],
      ['events', events],
    ] as const) {
      assert.ok(!text.includes(secret), `the BMC password appears in ${what}`);
    }
  });

  const api = async (
    method: 'GET' | 'POST' | 'PUT',
    url: string,
    payload?: unknown,
    who: 'admin' | 'operator' | 'viewer' = 'operator',
  ) => {
    const res = await c.app.inject({
      method,
      url: `/api/v1/${url}`,
      payload: payload as object,
      headers: { authorization: c.bearer[who] },
    });
    replies.push(res.body);
    return res;
  };
  const addHost = async (name: string, bmc: Record<string, unknown> | null, extra: Record<string, unknown> = {}) => {
    const res = await api('POST', 'hosts', { name, bmc, ...extra });
    assert.equal(res.statusCode, 201, res.body);
    return res.json();
  };
  const powerEvents = async (host: string) =>
    (await api('GET', `hosts/${host}/events?limit=1000`))
      .json()
      .items.filter((e: { kind: string }) => e.kind.startsWith('power.'));

  it('reads status (viewer), powers on (operator) and records started/succeeded with the actor', async () => {
    await addHost('n1', { driver: 'lab', address: 'bmc-n1', username: 'admin', password: secret });
    const st = await api('GET', 'hosts/n1/power', undefined, 'viewer');
    assert.equal(st.statusCode, 200, st.body);
    assert.equal(st.json().state, 'off');
    assert.equal(st.json().recorded, 'off');
    assert.deepEqual(st.json().capabilities.powerActions, ['on', 'off', 'cycle', 'soft-off']);
    assert.equal((await api('POST', 'hosts/n1/power', { action: 'on' }, 'viewer')).statusCode, 403);
    const on = await api('POST', 'hosts/n1/power', { action: 'on', reason: 'rack test' });
    assert.equal(on.statusCode, 200, on.body);
    assert.deepEqual(on.json(), { host: 'n1', action: 'on', ok: true });
    assert.equal(machines.get('bmc-n1')!.power, 'on');
    const ev = (await powerEvents('n1')).slice(-2);
    assert.deepEqual(
      ev.map((e: EventJson) => [e.kind, e.actor, e.reason, e.data.operation]),
      [
        ['power.started', 'token:t-operator', 'rack test', 'power on'],
        ['power.succeeded', 'token:t-operator', 'rack test', 'power on'],
      ],
    );
    assert.equal(ev[1].data.state, 'on');
    assert.equal((await api('GET', 'hosts/n1/power', undefined, 'viewer')).json().state, 'on');
  });

  it("sets a one-time boot device with the host firmware's UEFI flag, and a persistent one", async () => {
    await addHost('n2', { driver: 'lab', address: 'bmc-n2' }, { firmware: 'uefi' });
    const once = await api('PUT', 'hosts/n2/boot-device', { device: 'network' });
    assert.equal(once.statusCode, 200, once.body);
    assert.deepEqual(once.json(), { host: 'n2', device: 'network', persistent: false });
    assert.deepEqual(machines.get('bmc-n2')!.boot, { device: 'network', persistent: false, uefi: true });
    assert.equal((await api('PUT', 'hosts/n2/boot-device', { device: 'disk', persistent: true })).statusCode, 200);
    assert.deepEqual(machines.get('bmc-n2')!.boot, { device: 'disk', persistent: true, uefi: true });
    const bad = await api('PUT', 'hosts/n2/boot-device', { device: 'floppy' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'validation_failed');
  });

  it('maps BMC failures to bmc_unsupported 422, bmc_error 502 (BMC text, password redacted), bmc_timeout 504', async () => {
    await addHost('wol1', {
      driver: 'lab',
      address: 'bmc-wol1',
      options: { caps: { powerActions: ['on'], status: false, bootOnce: [], bootPersistent: [] } },
    });
    const unsup = await api('POST', 'hosts/wol1/power', { action: 'off' });
    assert.equal(unsup.statusCode, 422);
    assert.equal(unsup.json().error.code, 'bmc_unsupported');
    assert.equal((await powerEvents('wol1')).length, 0, 'refused before reaching the queue: no events');
    const st = await api('GET', 'hosts/wol1/power', undefined, 'viewer');
    assert.equal(st.json().state, null, 'no status capability: state null');

    await addHost('bad1', { driver: 'echo', address: 'bmc-bad1', username: 'admin', password: secret });
    const err = await api('POST', 'hosts/bad1/power', { action: 'cycle' });
    assert.equal(err.statusCode, 502);
    assert.equal(err.json().error.code, 'bmc_error');
    assert.equal(err.json().error.message, 'login refused for password ***');
    const failed = (await powerEvents('bad1')).find((e: EventJson) => e.kind === 'power.failed');
    assert.equal(failed.data.error.message, 'login refused for password ***');
    assert.match(failed.message, /^host bad1: power cycle failed: login refused for password \*\*\*$/);

    await addHost('hung1', { driver: 'hung', address: 'bmc-hung1' });
    const t0 = Date.now();
    const slow = await api('POST', 'hosts/hung1/power', { action: 'on' });
    assert.equal(slow.statusCode, 504);
    assert.equal(slow.json().error.code, 'bmc_timeout');
    assert.ok(
      Date.now() - t0 < 20_000,
      `took ${Date.now() - t0} ms: the BMC timeout must fire, not the hung BMC's own delay`,
    );

    await addHost('nobmc', null);
    const none = await api('POST', 'hosts/nobmc/power', { action: 'on' });
    assert.equal(none.statusCode, 400);
    assert.equal(none.json().error.issues[0].path, '/bmc');
    assert.equal((await api('POST', 'hosts/ghost/power', { action: 'on' })).statusCode, 404);
  });

  it('batch power-on: network boot first, staggered, one result per host in order (partial failure is 200)', async () => {
    for (const n of ['b1', 'b2', 'b3']) await addHost(n, { driver: 'lab', address: `bmc-${n}` }, { firmware: 'bios' });
    const t0 = Date.now();
    const res = await api('POST', 'power/batch', {
      hosts: ['b1', 'b2', 'bad1', 'ghost', 'b3'],
      action: 'on',
      staggerMs: 60,
      maxParallel: 2,
      bootNetwork: true,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(
      res
        .json()
        .items.map((i: { host: string; ok: boolean; error?: { code: string } }) => [i.host, i.ok, i.error?.code]),
      [
        ['b1', true, undefined],
        ['b2', true, undefined],
        ['bad1', false, 'bmc_error'],
        ['ghost', false, 'not_found'],
        ['b3', true, undefined],
      ],
    );
    // Four bound hosts: the fourth starts no earlier than 3 × 60 ms.
    assert.ok(Date.now() - t0 >= 180, `batch took ${Date.now() - t0} ms`);
    for (const n of ['b1', 'b2', 'b3']) {
      assert.deepEqual(machines.get(`bmc-${n}`)!.calls, ['boot network once', 'power on']);
      assert.deepEqual(machines.get(`bmc-${n}`)!.boot, { device: 'network', persistent: false, uefi: false });
    }
    assert.equal((await api('POST', 'power/batch', { hosts: ['b1'], action: 'off' })).statusCode, 400);
  });

  it('enlists: one host per system, matching an existing host by MAC, systemId in the options; again updates', async () => {
    await addHost('old', null, { nics: [{ mac: '52:54:00:0e:00:02' }] });
    const systems = [
      { systemId: 'Sys-A', name: 'Rack4 Node_A', macs: ['52-54-00-0E-00-01'], firmware: 'uefi' },
      { systemId: 'Sys-B', name: 'node-b', macs: ['52:54:00:0e:00:02', '52:54:00:0e:00:03'] },
    ];
    const body = { driver: 'lab', address: 'chassis-1', username: 'admin', password: secret, options: { systems } };
    const res = await api('POST', 'bmc/enlist', body);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(
      res.json().created.map((h: { name: string; systemId: string; macs: string[] }) => [h.name, h.systemId, h.macs]),
      [['rack4-node-a', 'Sys-A', ['52:54:00:0e:00:01']]],
    );
    assert.deepEqual(
      res.json().updated.map((h: { name: string; systemId: string; macs: string[] }) => [h.name, h.systemId, h.macs]),
      [['old', 'Sys-B', ['52:54:00:0e:00:02', '52:54:00:0e:00:03']]],
    );
    const a = (await api('GET', 'hosts/rack4-node-a')).json();
    assert.equal(a.firmware, 'uefi');
    assert.deepEqual(a.nics, [{ mac: '52:54:00:0e:00:01', name: null, boot: true }]);
    assert.deepEqual(
      { ...a.bmc, options: { systemId: a.bmc.options.systemId } },
      { driver: 'lab', address: 'chassis-1', username: 'admin', hasPassword: true, options: { systemId: 'Sys-A' } },
    );
    const old = (await api('GET', 'hosts/old')).json();
    assert.deepEqual(
      old.nics.map((n: { mac: string; boot: boolean }) => [n.mac, n.boot]),
      [
        ['52:54:00:0e:00:02', true],
        ['52:54:00:0e:00:03', false],
      ],
    );
    assert.equal(old.bmc.options.systemId, 'Sys-B');
    assert.equal(await c.inventory.revealBmcPassword('old'), secret);
    const again = await api('POST', 'bmc/enlist', body);
    assert.deepEqual(
      [again.json().created.length, again.json().updated.map((h: { name: string }) => h.name)],
      [0, ['rack4-node-a', 'old']],
    );
    const noEnum = await api('POST', 'bmc/enlist', {
      driver: 'lab',
      address: 'x',
      options: { caps: { enumerate: false } },
    });
    assert.equal(noEnum.statusCode, 422);
    assert.equal((await api('POST', 'bmc/enlist', { driver: 'smoke', address: 'x' })).statusCode, 400);
    const echo = await api('POST', 'bmc/enlist', { driver: 'echo', address: 'x', password: secret });
    assert.equal(echo.statusCode, 502);
    assert.equal(echo.json().error.message, 'login refused for password ***');
  });

  it('deploy asks for a one-time network boot, then powers on a stopped host or cycles a running one', async () => {
    await addHost(
      'd1',
      { driver: 'lab', address: 'bmc-d1' },
      { state: 'ready', profile: 'kiln-image', firmware: 'uefi', nics: [{ mac: '52:54:00:dd:00:01' }] },
    );
    const dep = await api('POST', 'hosts/d1/deploy', { variables: { imageName: 'busybox-test' } });
    assert.equal(dep.statusCode, 200, dep.body);
    assert.deepEqual(machines.get('bmc-d1')!.calls, ['boot network once', 'status', 'power on']);
    assert.deepEqual(machines.get('bmc-d1')!.boot, { device: 'network', persistent: false, uefi: true });
    const ev = await powerEvents('d1');
    assert.ok(
      ev.every((e: EventJson) => e.actor === 'kiln:deploy' && e.reason === 'deploy kiln-image'),
      JSON.stringify(ev.map((e: EventJson) => [e.actor, e.reason])),
    );
    // Running now: a wipe release cycles it.
    assert.equal((await api('POST', 'hosts/d1/state', { state: 'deployed' })).statusCode, 200);
    machines.get('bmc-d1')!.calls.length = 0;
    assert.equal((await api('POST', 'hosts/d1/release', { wipe: true })).statusCode, 200);
    assert.deepEqual(machines.get('bmc-d1')!.calls, ['boot network once', 'status', 'power cycle']);
  });

  it('kiln host test on a host that is off powers it on (network boot, power queue); one that is on or has no BMC is left alone', async () => {
    await addHost('st-off', { driver: 'lab', address: 'bmc-st-off' }, { state: 'ready', firmware: 'bios' });
    const off = await api('POST', 'hosts/st-off/self-tests', {});
    assert.equal(off.statusCode, 202, off.body);
    assert.equal(off.json().poweredOn, true);
    assert.deepEqual(machines.get('bmc-st-off')!.calls, ['status', 'boot network once', 'status', 'power on']);
    assert.equal(machines.get('bmc-st-off')!.power, 'on');
    const ev = await powerEvents('st-off');
    assert.ok(ev.length > 0);
    assert.ok(
      ev.every((e: EventJson) => e.actor === 'kiln:self-test' && e.reason.startsWith('self-test run ')),
      JSON.stringify(ev.map((e: EventJson) => [e.actor, e.reason])),
    );

    machines.set('bmc-st-on', { power: 'on' } as FakeMachine);
    await addHost('st-on', { driver: 'lab', address: 'bmc-st-on' }, { state: 'ready' });
    const on = await api('POST', 'hosts/st-on/self-tests', {});
    assert.equal(on.statusCode, 202, on.body);
    assert.equal(on.json().poweredOn, false);
    assert.deepEqual(machines.get('bmc-st-on')!.calls, ['status'], 'a running host only has its status read');

    await addHost('st-nobmc', null, { state: 'ready' });
    const bare = await api('POST', 'hosts/st-nobmc/self-tests', {});
    assert.equal(bare.statusCode, 202, bare.body);
    assert.equal(bare.json().poweredOn, false);
  });

  it("the poller records drift once when a host changes state behind Kiln's back", async () => {
    machines.get('bmc-n1')!.power = 'off'; // Kiln recorded "on"
    const ac = new AbortController();
    let rounds = 0;
    const stopAfter = setInterval(() => {
      if (++rounds > 10) ac.abort();
    }, 20);
    await c.power.runPoller({ intervalMs: 15, signal: ac.signal });
    clearInterval(stopAfter);
    const drift = (await powerEvents('n1')).filter((e: EventJson) => e.kind === 'power.drift');
    assert.equal(drift.length, 1, 'one drift, not one per round');
    assert.deepEqual(
      [drift[0].actor, drift[0].before, drift[0].after],
      ['kiln:poller', { state: 'on' }, { state: 'off' }],
    );
    // Background reads leave no started/succeeded events; a failing BMC is recorded once per streak.
    const bad = (await powerEvents('bad1')).filter((e: EventJson) => e.actor === 'kiln:poller');
    assert.deepEqual(
      bad.map((e: EventJson) => e.kind),
      ['power.failed'],
    );
  });

  it('lists the drivers (viewer)', async () => {
    const res = await api('GET', 'power/drivers', undefined, 'viewer');
    assert.equal(res.statusCode, 200);
    const names = res.json().items.map((i: { name: string }) => i.name);
    for (const n of ['fake', 'ipmi', 'lab', 'libvirt', 'redfish', 'webhook', 'wol']) assert.ok(names.includes(n), n);
  });
});
