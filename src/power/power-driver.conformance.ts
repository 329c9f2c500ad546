// The one conformance suite every PowerDriver runs (STYLE 37): the fake in a
// unit test, each real driver in its int test against a real peer. It only
// reads capabilities, so one suite fits drivers that offer little (WoL) and
// drivers that offer everything (Redfish).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hasCode, KilnError } from '../error/kiln-error.js';
import type { ErrorCode } from '../error/codes.js';
import { powerActions, type BootDevice, type PowerDriver, type PowerState } from './power-driver.js';

/** A driver under test plus, where the peer allows, an independent view of the machine. */
export interface ConformanceSubject {
  driver: PowerDriver;
  /** Reads the power state from the peer itself (not through the driver). */
  observePower?: () => Promise<PowerState>;
  /** Reads the boot device the peer last received, from the peer itself. */
  observeBoot?: () => Promise<BootDevice | undefined>;
  cleanup?: () => Promise<void>;
}

/** How to build a driver for one error case; the suite expects `code` from its first call. */
export interface ConformanceErrorCase {
  name: string;
  create: () => PowerDriver | Promise<PowerDriver>;
  /** The call to make; `powerStatus` by default, or a power action when status is not offered. */
  call?: (d: PowerDriver) => Promise<unknown>;
  code: ErrorCode;
  /** The longest the call may take before it must have failed, in ms. */
  withinMs?: number;
}

/** Options for `runPowerDriverConformance`. `skip` is the reason the peer is missing. */
export interface PowerDriverConformanceOptions {
  name: string;
  skip?: string | false;
  setup: () => Promise<ConformanceSubject>;
  errorCases?: ConformanceErrorCase[];
  /** The BMC password: no error message, detail or captured log line may contain it. */
  secret?: string;
  /** Returns everything the drivers under test logged, for the secret check. */
  capturedLogs?: () => string;
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<KilnError> {
  try {
    await p;
  } catch (err) {
    assert.ok(
      hasCode(err, code),
      `expected ${code}, got ${err instanceof KilnError ? err.code : String(err)}: ${(err as Error)?.message}`,
    );
    return err;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

/** Registers the conformance tests for one driver under a `describe` block. */
export function runPowerDriverConformance(o: PowerDriverConformanceOptions): void {
  describe(`PowerDriver conformance: ${o.name}`, { skip: o.skip || false }, () => {
    let s: ConformanceSubject;
    const errors: KilnError[] = [];
    before(async () => {
      s = await o.setup();
    });
    after(async () => {
      await s?.driver.close();
      await s?.cleanup?.();
    });
    const caps = () => s.driver.capabilities;
    const has = (a: (typeof powerActions)[number]) => caps().powerActions.includes(a);

    it('declares well-formed capabilities', () => {
      for (const a of caps().powerActions) assert.ok(powerActions.includes(a), `unknown action ${a}`);
      assert.equal(typeof caps().status, 'boolean');
      assert.ok(caps().powerActions.length > 0 || caps().status || caps().enumerate, 'a driver must offer something');
    });

    it('reports a power state', { skip: false }, async (t) => {
      if (!caps().status) {
        t.skip('driver declares no status');
        return;
      }
      assert.ok(['on', 'off'].includes(await s.driver.powerStatus()));
    });

    it('powers on, and the peer and status agree', async (t) => {
      if (!has('on')) {
        t.skip('driver declares no power on');
        return;
      }
      await s.driver.setPower('on');
      if (s.observePower) assert.equal(await s.observePower(), 'on');
      if (caps().status) assert.equal(await s.driver.powerStatus(), 'on');
    });

    it('powers off, and the peer and status agree', async (t) => {
      if (!has('off')) {
        t.skip('driver declares no power off');
        return;
      }
      await s.driver.setPower('off');
      if (s.observePower) assert.equal(await s.observePower(), 'off');
      if (caps().status) assert.equal(await s.driver.powerStatus(), 'off');
    });

    it('cycles and soft-offs when offered', async (t) => {
      if (!has('cycle') && !has('soft-off')) {
        t.skip('driver declares neither cycle nor soft-off');
        return;
      }
      if (has('on')) await s.driver.setPower('on');
      if (has('cycle')) await s.driver.setPower('cycle');
      if (has('soft-off')) await s.driver.setPower('soft-off');
    });

    it('sets a one-time boot device for each one offered', async (t) => {
      if (caps().bootOnce.length === 0) {
        t.skip('driver declares no one-time boot override');
        return;
      }
      for (const device of caps().bootOnce) {
        await s.driver.setBootDevice({ device });
        if (s.observeBoot) assert.equal(await s.observeBoot(), device);
      }
    });

    it('sets a persistent boot device for each one offered', async (t) => {
      if (caps().bootPersistent.length === 0) {
        t.skip('driver declares no persistent boot override');
        return;
      }
      for (const device of caps().bootPersistent) {
        await s.driver.setBootDevice({ device, persistent: true });
        if (s.observeBoot) assert.equal(await s.observeBoot(), device);
      }
    });

    it('refuses every operation it does not declare with bmc_unsupported', async () => {
      for (const a of powerActions) if (!has(a)) await expectCode(s.driver.setPower(a), 'bmc_unsupported');
      for (const device of ['network', 'disk', 'http'] as const) {
        if (!caps().bootOnce.includes(device)) await expectCode(s.driver.setBootDevice({ device }), 'bmc_unsupported');
        if (!caps().bootPersistent.includes(device)) {
          await expectCode(s.driver.setBootDevice({ device, persistent: true }), 'bmc_unsupported');
        }
      }
      if (!caps().status) await expectCode(s.driver.powerStatus(), 'bmc_unsupported');
      if (!caps().virtualMedia) {
        await expectCode(s.driver.insertMedia('http://127.0.0.1/x.iso'), 'bmc_unsupported');
        await expectCode(s.driver.ejectMedia(), 'bmc_unsupported');
      }
      if (!caps().enumerate) await expectCode(s.driver.listSystems(), 'bmc_unsupported');
      if (!caps().inventory) await expectCode(s.driver.readInventory(), 'bmc_unsupported');
    });

    it('enumerates systems with normalised MACs when offered', async (t) => {
      if (!caps().enumerate) {
        t.skip('driver declares no enumeration');
        return;
      }
      const systems = await s.driver.listSystems();
      assert.ok(systems.length > 0, 'at least one system');
      for (const sys of systems) {
        assert.ok(sys.systemId.length > 0);
        for (const m of sys.macs) assert.match(m, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      }
    });

    it('reads inventory when offered', async (t) => {
      if (!caps().inventory) {
        t.skip('driver declares no inventory');
        return;
      }
      const inv = await s.driver.readInventory();
      assert.ok(inv.systemId.length > 0);
    });

    it('inserts and ejects virtual media when offered', async (t) => {
      if (!caps().virtualMedia) {
        t.skip('driver declares no virtual media');
        return;
      }
      await s.driver.insertMedia('http://127.0.0.1:8080/discovery.iso');
      await s.driver.ejectMedia();
    });

    for (const ec of o.errorCases ?? []) {
      it(`fails with ${ec.code}: ${ec.name}`, async () => {
        const d = await ec.create();
        const started = Date.now();
        try {
          const call = ec.call ?? ((x: PowerDriver) => (x.capabilities.status ? x.powerStatus() : x.setPower('on')));
          errors.push(await expectCode(call(d), ec.code));
          if (ec.withinMs) assert.ok(Date.now() - started <= ec.withinMs, `took ${Date.now() - started} ms`);
        } finally {
          await d.close();
        }
      });
    }

    it('never reveals the password in errors or logs', { skip: o.secret ? false : 'no secret given' }, () => {
      const secret = o.secret!;
      for (const e of errors) {
        const text = `${e.message}\n${e.stack}\n${JSON.stringify(e.details ?? {})}\n${String((e.cause as Error)?.message ?? '')}`;
        assert.ok(!text.includes(secret), `password leaked in error ${e.code}: ${e.message}`);
      }
      if (o.capturedLogs) assert.ok(!o.capturedLogs().includes(secret), 'password leaked in logs');
    });
  });
}
