// The power API end to end against real peers: an OpenIPMI ipmi_sim BMC on
// 127.0.0.1 driven through ipmitool, and virsh's built-in test driver
// (test:///default, allowed by the development setting) for enlistment; and
// an operator's hostile libvirt addresses, refused before virsh runs.
// Every reply, event and log line of this file is searched for the password.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestController, type TestController } from '../../test/support/controller.js';
import { createMemoryLogger } from '../log/logger.js';
import { hasIpmiSim, startIpmiSim, type IpmiSim } from './ipmi/testing/start-ipmi-sim.js';

const noIpmi = hasIpmiSim() ? false : 'ipmi_sim or ipmitool not installed (apt-get install openipmi ipmitool)';
const noVirsh =
  spawnSync('sh', ['-c', 'command -v virsh']).status === 0
    ? false
    : 'virsh not installed (apt-get install libvirt-clients)';
const password = 'Int-BMC-secret-5521';
const fast = { retries: 1, retryTimeoutSec: 1, timeoutMs: 8000 };

describe('power API against real peers', () => {
  const logger = createMemoryLogger();
  const replies: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'kiln-power-api-'));
  let c: TestController;
  let sim: IpmiSim | undefined;

  before(async () => {
    c = await createTestController({
      log: logger,
      powerConfig: { timeoutMs: 15_000, maxConcurrent: 4, libvirtTestDriver: true },
    });
    if (!noIpmi) sim = await startIpmiSim(password);
  });
  after(async () => {
    const events = JSON.stringify(await c.inventory.listEvents({ limit: 10_000 }));
    await c.close();
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
    for (const [what, text] of [
      ['replies', replies.join('\n')],
      ['logs', JSON.stringify(logger.lines)],
      ['events', events],
    ] as const) {
      assert.ok(!text.includes(password), `the BMC password appears in ${what}`);
    }
  });

  const api = async (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) => {
    const res = await c.app.inject({
      method,
      url: `/api/v1/${url}`,
      payload: payload as object,
      headers: { authorization: c.bearer.operator },
    });
    replies.push(res.body);
    return res;
  };

  it(
    'ipmi: create host → power on → status on → events recorded; boot device reaches the BMC',
    { skip: noIpmi },
    async () => {
      const add = await api('POST', 'hosts', {
        name: 'ipmi-1',
        bmc: { driver: 'ipmi', address: `127.0.0.1:${sim!.port}`, username: sim!.username, password, options: fast },
      });
      assert.equal(add.statusCode, 201, add.body);
      assert.equal(sim!.power(), 'off');
      const on = await api('POST', 'hosts/ipmi-1/power', { action: 'on', reason: 'int test' });
      assert.equal(on.statusCode, 200, on.body);
      assert.equal(sim!.power(), 'on', 'the simulated chassis was powered on');
      const st = await api('GET', 'hosts/ipmi-1/power');
      assert.equal(st.statusCode, 200, st.body);
      assert.equal(st.json().state, 'on');
      assert.equal(st.json().driver, 'ipmi');
      const boot = await api('PUT', 'hosts/ipmi-1/boot-device', { device: 'network' });
      assert.equal(boot.statusCode, 200, boot.body);
      assert.equal(sim!.boot(), 'pxe');
      const events = (await api('GET', 'hosts/ipmi-1/events?limit=1000'))
        .json()
        .items.filter((e: { kind: string }) => e.kind.startsWith('power.'));
      assert.deepEqual(
        events.map((e: { kind: string; data: { operation: string } }) => [e.kind, e.data.operation]),
        [
          ['power.started', 'power on'],
          ['power.succeeded', 'power on'],
          ['power.started', 'power status'],
          ['power.succeeded', 'power status'],
          ['power.started', 'boot network once'],
          ['power.succeeded', 'boot network once'],
        ],
      );
      assert.equal(events[1].actor, 'token:t-operator');
      assert.equal(events[1].reason, 'int test');
    },
  );

  it(
    "ipmi: a wrong password is bmc_error 502 with a fixed message (ipmitool's words only in the log), recorded as power.failed",
    { skip: noIpmi },
    async () => {
      await api('POST', 'hosts', {
        name: 'ipmi-bad',
        bmc: {
          driver: 'ipmi',
          address: `127.0.0.1:${sim!.port}`,
          username: sim!.username,
          password: `${password}-wrong`,
          options: fast,
        },
      });
      const res = await api('POST', 'hosts/ipmi-bad/power', { action: 'off' });
      assert.equal(res.statusCode, 502, res.body);
      assert.equal(res.json().error.code, 'bmc_error');
      // A fixed sentence (ipmi_sim's refusal classifies as a failed command, not as RAKP authentication), never ipmitool's stderr.
      assert.match(
        res.json().error.message,
        new RegExp(`^BMC 127\\.0\\.0\\.1:${sim!.port} (authentication failed|command failed) \\(`),
      );
      assert.doesNotMatch(res.json().error.message, /RAKP|Unable to establish|Error:|session/i);
      assert.equal(sim!.power(), 'on', 'nothing changed');
      const failed = (await api('GET', 'hosts/ipmi-bad/events?limit=1000'))
        .json()
        .items.find((e: { kind: string }) => e.kind === 'power.failed');
      assert.equal(failed.data.error.message, res.json().error.message);
    },
  );

  it(
    'libvirt: enlistment creates one host per domain with its MAC, and the host is then controllable',
    { skip: noVirsh },
    async () => {
      const res = await api('POST', 'bmc/enlist', { driver: 'libvirt', address: 'test:///default', password });
      assert.equal(res.statusCode, 200, res.body);
      // test:///default holds one domain, "test", running, with one NIC.
      assert.deepEqual(
        res.json().created.map((h: { name: string; systemId: string; macs: string[] }) => [h.name, h.systemId, h.macs]),
        [['test', 'test', ['aa:bb:cc:dd:ee:ff']]],
      );
      const h = (await api('GET', 'hosts?mac=aa:bb:cc:dd:ee:ff')).json().items[0];
      assert.equal(h.name, 'test');
      assert.deepEqual(h.bmc.options, { systemId: 'test' });
      // The driver built from the stored settings addresses that domain (options.systemId).
      const st = await api('GET', 'hosts/test/power');
      assert.equal(st.statusCode, 200, st.body);
      assert.equal(st.json().state, 'on', 'the test driver starts its domain running');
      const again = await api('POST', 'bmc/enlist', { driver: 'libvirt', address: 'test:///default' });
      assert.deepEqual([again.json().created.length, again.json().updated.length], [0, 1]);
    },
  );

  it(
    "libvirt: a hostile address is refused before virsh runs; neither a file's content nor virsh's stderr reaches the caller",
    { skip: noVirsh },
    async () => {
      // A file the controller can read (as <data-dir>/admin-token is), and a program an operator would like it to run.
      const token = 'kt_HostileEnlistProbe_0123456789abcdef';
      const tokenFile = join(dir, 'admin-token');
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      const marker = join(dir, 'ran');
      const program = join(dir, 'evil.sh');
      writeFileSync(program, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
      const hostile = [
        `test://${tokenFile}`,
        `test:///${tokenFile.slice(1)}`,
        `qemu+ext:///system?command=${program}`,
        `qemu:///system?socket=${tokenFile}`,
        `qemu+ssh://hv1/system?keyfile=${tokenFile}`,
        `qemu+ssh://-oProxyCommand=${program}/system`,
        `qemu:///system?name=test://${tokenFile}`,
      ];
      for (const address of hostile) {
        const res = await api('POST', 'bmc/enlist', { driver: 'libvirt', address });
        assert.equal(res.statusCode, 400, `${address}: ${res.body}`);
        assert.equal(res.json().error.code, 'validation_failed');
        assert.match(res.json().error.issues[0].code, /^libvirt_/);
        assert.ok(!res.body.includes(token), `${address}: the file's content is in the reply`);
        // Stored as a host's BMC (create or edit), it is refused too, and a viewer's power read runs nothing.
        const add = await api('POST', 'hosts', {
          name: 'hostile-bmc',
          bmc: { driver: 'libvirt', address, options: { domain: 'x' } },
        });
        assert.equal(add.statusCode, 400, `${address}: ${add.body}`);
      }
      // A row stored before this check (written straight to the database): a viewer's power read and the poller build no driver from it.
      const plain = await api('POST', 'hosts', {
        name: 'old-hostile',
        bmc: { driver: 'libvirt', address: 'qemu:///system', options: { domain: 'x' } },
      });
      assert.equal(plain.statusCode, 201, plain.body);
      await c.db
        .updateTable('hosts')
        .set({ bmc_address: `qemu+ext:///system?command=${program}` })
        .where('name', '=', 'old-hostile')
        .execute();
      const read = await c.app.inject({
        method: 'GET',
        url: '/api/v1/hosts/old-hostile/power',
        headers: { authorization: c.bearer.viewer },
      });
      assert.equal(read.statusCode, 400, read.body);
      assert.equal(read.json().error.issues[0].code, 'libvirt_transport_refused');
      assert.equal(existsSync(marker), false, "the operator's program never ran");
      // An allowed address whose virsh fails: a fixed message; virsh's own words stay in the log.
      const res = await api('POST', 'bmc/enlist', { driver: 'libvirt', address: 'qemu+tcp://127.0.0.1:1/system' });
      assert.equal(res.statusCode, 502, res.body);
      assert.equal(res.json().error.code, 'bmc_error');
      assert.match(res.json().error.message, /cannot connect to the hypervisor/);
      assert.ok(!/error:|Connection refused|Cannot recv|unable to connect/i.test(res.json().error.message), res.body);
      const all = JSON.stringify(await c.inventory.listEvents({ limit: 10_000 }));
      assert.ok(!all.includes(token));
    },
  );
});
