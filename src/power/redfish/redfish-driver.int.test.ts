// Redfish driver against an HTTPS mock BMC serving DMTF's public rack-mount
// mockup on 127.0.0.1 (testing/redfish-mock-server.ts).
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { hasCode } from '../../error/kiln-error.js';
import { createMemoryLogger } from '../../log/logger.js';
import { runPowerDriverConformance } from '../power-driver.conformance.js';
import type { BootDevice, PowerDriver } from '../power-driver.js';
import { createRedfishDriver } from './redfish-driver.js';
import { mockupDir, startRedfishMock, type RedfishMock } from './testing/redfish-mock-server.js';

const dir = mockupDir();
const skip = dir ? false : 'DMTF mockup not found at <repo>/../shared/redfish/public-rackmount1';
const password = 'rf-Pa55word!';
const logger = createMemoryLogger();
let mock: RedfishMock;
let hang: { server: Server; port: number; sockets: Set<Socket> };

const driverFor = (m: RedfishMock, options: Record<string, unknown> = {}, pw = password): PowerDriver =>
  createRedfishDriver(
    {
      driver: 'redfish',
      address: `127.0.0.1:${m.port}`,
      username: 'admin',
      password: pw,
      options: { fingerprint: m.fingerprint, timeoutMs: 3000, ...options },
    },
    { logger },
  );

/** The one system in the mockup, found the way a client must: via the Systems collection. */
const systemDoc = (m: RedfishMock) => {
  const members = m.docs.get('/redfish/v1/Systems')!.Members as Array<{ '@odata.id': string }>;
  return m.docs.get(members[0]['@odata.id'].replace(/\/$/, ''))!;
};
const fromTarget: Record<string, BootDevice> = { Pxe: 'network', Hdd: 'disk', UefiHttp: 'http' };

async function startHangingServer() {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  }); // accepts, never answers
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, sockets, port: (server.address() as { port: number }).port };
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

runPowerDriverConformance({
  name: 'redfish (DMTF public-rackmount1 mockup)',
  skip,
  secret: password,
  capturedLogs: () => JSON.stringify(logger.lines),
  setup: async () => {
    mock = await startRedfishMock({ dir: dir!, username: 'admin', password });
    hang = await startHangingServer();
    // This BMC also offers UEFI HTTP boot (the mockup's list lacks it; the
    // unmodified list is tested below).
    const boot = systemDoc(mock).Boot as Record<string, string[]>;
    boot['BootSourceOverrideTarget@Redfish.AllowableValues'].push('UefiHttp');
    return {
      driver: driverFor(mock),
      observePower: async () => (systemDoc(mock).PowerState === 'On' ? 'on' : 'off'),
      observeBoot: async () => fromTarget[(systemDoc(mock).Boot as Record<string, string>).BootSourceOverrideTarget],
      cleanup: async () => {
        await mock.stop();
        for (const s of hang.sockets) s.destroy();
        await new Promise((r) => hang.server.close(r));
      },
    };
  },
  errorCases: [
    { name: 'wrong password (401)', create: () => driverFor(mock, {}, 'wrong-password'), code: 'bmc_error' },
    {
      name: 'closed port on 127.0.0.1',
      create: async () =>
        createRedfishDriver({
          driver: 'redfish',
          address: `127.0.0.1:${await closedPort()}`,
          username: 'admin',
          password,
          options: { insecure: true },
        }),
      code: 'bmc_error',
    },
    {
      name: 'BMC that accepts TCP and never answers',
      code: 'bmc_timeout',
      withinMs: 3000,
      create: () =>
        createRedfishDriver(
          {
            driver: 'redfish',
            address: `127.0.0.1:${hang.port}`,
            username: 'admin',
            password,
            options: { insecure: true, timeoutMs: 500 },
          },
          { logger },
        ),
    },
    {
      name: 'certificate does not match the pin',
      create: () => driverFor(mock, { fingerprint: 'ab'.repeat(32) }),
      code: 'bmc_error',
    },
    {
      name: 'self-signed certificate without ca, pin or insecure',
      create: () => driverFor(mock, { fingerprint: undefined }),
      code: 'bmc_error',
    },
  ],
});

describe('redfish driver details (mockup)', { skip }, () => {
  let m: RedfishMock;
  before(async () => {
    m = await startRedfishMock({ dir: dir!, username: 'admin', password });
  });
  after(async () => {
    await m?.stop();
  });

  it('discovers the system and lists it with MACs from EthernetInterfaces', async () => {
    const d = driverFor(m);
    try {
      const systems = await d.listSystems();
      assert.equal(systems.length, 1);
      assert.equal(systems[0].systemId, '437XR1138R2');
      assert.deepEqual(systems[0].macs, [
        '12:44:6a:3b:04:11',
        '12:44:6a:3b:88:90',
        'aa:bb:cc:dd:ee:00',
        'aa:bb:cc:dd:ee:fe',
      ]);
      assert.equal(systems[0].firmware, 'uefi');
      assert.equal(systems[0].serial, '437XR1138R2');
      const inv = await d.readInventory();
      assert.equal(inv.memoryMiB, 96 * 1024);
      assert.equal(inv.cpuCount, 16);
    } finally {
      await d.close();
    }
  });

  it('uses a session, sends If-Match on the boot PATCH, and deletes the session on close', async () => {
    const d = driverFor(m);
    const before = m.requests.length;
    await d.setBootDevice({ device: 'disk', persistent: true });
    await d.close();
    const seen = m.requests.slice(before);
    assert.ok(seen.includes('POST /redfish/v1/SessionService/Sessions none'));
    assert.ok(
      seen.some((r) => /^PATCH \/redfish\/v1\/Systems\/\w+ session if-match$/.test(r)),
      seen.join('\n'),
    );
    assert.ok(seen.some((r) => r.startsWith('DELETE /redfish/v1/SessionService/Sessions/')));
    const boot = systemDoc(m).Boot as Record<string, string>;
    assert.equal(boot.BootSourceOverrideTarget, 'Hdd');
    assert.equal(boot.BootSourceOverrideEnabled, 'Continuous');
    assert.equal(boot.BootSourceOverrideMode, 'UEFI');
  });

  it('refuses HTTP boot when the BMC does not list UefiHttp', async () => {
    const d = driverFor(m);
    try {
      await assert.rejects(
        d.setBootDevice({ device: 'http' }),
        (e) => hasCode(e, 'bmc_unsupported') && /UefiHttp/.test((e as Error).message),
      );
    } finally {
      await d.close();
    }
  });

  it('maps cycle to ForceRestart when PowerCycle is not allowed', async () => {
    const d = driverFor(m);
    try {
      await d.setPower('cycle');
      assert.equal(m.resets.at(-1), 'ForceRestart');
    } finally {
      await d.close();
    }
  });

  it('inserts and ejects virtual media in the CD slot', async () => {
    const d = driverFor(m);
    try {
      await d.insertMedia('http://127.0.0.1:8080/discovery.iso');
      const cd = m.docs.get('/redfish/v1/Systems/437XR1138R2/VirtualMedia/CD1')!;
      assert.equal(cd.Image, 'http://127.0.0.1:8080/discovery.iso');
      assert.equal(cd.Inserted, true);
      await d.ejectMedia();
      assert.equal(cd.Image, null);
      assert.equal(cd.Inserted, false);
    } finally {
      await d.close();
    }
  });

  it('trusts the certificate given as a CA bundle', async () => {
    const d = driverFor(m, { fingerprint: undefined, ca: m.certPem });
    try {
      assert.ok(['on', 'off'].includes(await d.powerStatus()));
    } finally {
      await d.close();
    }
  });

  it('warns when TLS verification is disabled', async () => {
    const log = createMemoryLogger();
    const d = createRedfishDriver(
      { driver: 'redfish', address: `127.0.0.1:${m.port}`, username: 'admin', password, options: { insecure: true } },
      { logger: log },
    );
    try {
      await d.powerStatus();
      assert.ok(log.lines.some((l) => l.level === 'warn' && /verification disabled/.test(l.msg ?? '')));
    } finally {
      await d.close();
    }
  });
});

describe('redfish driver against unusual BMCs (mockup variants)', { skip }, () => {
  it('falls back to basic auth when SessionService refuses sessions', async () => {
    const m = await startRedfishMock({ dir: dir!, username: 'admin', password, sessions: false });
    const d = driverFor(m);
    try {
      await d.powerStatus();
      assert.ok(
        m.requests.some((r) => /^GET \/redfish\/v1\/Systems\/\w+ basic$/.test(r)),
        m.requests.join('\n'),
      );
    } finally {
      await d.close();
      await m.stop();
    }
  });

  it('a reply without PowerState is a clear bmc_error', async () => {
    const m = await startRedfishMock({ dir: dir!, username: 'admin', password });
    delete systemDoc(m).PowerState;
    const d = driverFor(m);
    try {
      await assert.rejects(
        d.powerStatus(),
        (e) => hasCode(e, 'bmc_error') && /no PowerState/.test((e as Error).message),
      );
    } finally {
      await d.close();
      await m.stop();
    }
  });

  it('a Systems collection without Members is a clear bmc_error', async () => {
    const m = await startRedfishMock({ dir: dir!, username: 'admin', password });
    delete m.docs.get('/redfish/v1/Systems')!.Members;
    const d = driverFor(m);
    try {
      await assert.rejects(
        d.listSystems(),
        (e) => hasCode(e, 'bmc_error') && /Systems collection reply has no Members/.test((e as Error).message),
      );
    } finally {
      await d.close();
      await m.stop();
    }
  });

  it('a disallowed reset type is refused before anything is sent', async () => {
    const m = await startRedfishMock({ dir: dir!, username: 'admin', password });
    const reset = (systemDoc(m).Actions as Record<string, Record<string, string[]>>)['#ComputerSystem.Reset'];
    reset['ResetType@Redfish.AllowableValues'] = ['On', 'ForceOff'];
    const d = driverFor(m);
    try {
      await assert.rejects(
        d.setPower('soft-off'),
        (e) => hasCode(e, 'bmc_unsupported') && /GracefulShutdown/.test((e as Error).message),
      );
      assert.deepEqual(m.resets, []);
    } finally {
      await d.close();
      await m.stop();
    }
  });

  it('a BMC that rejects a reset: its message stays out of the error (events are read by viewers) and is logged at debug', async () => {
    const m = await startRedfishMock({ dir: dir!, username: 'admin', password, refuseResets: ['On', 'ForceOn'] });
    const reset = (systemDoc(m).Actions as Record<string, Record<string, unknown>>)['#ComputerSystem.Reset'];
    // The BMC lists no allowable values (so the driver may try On) but refuses On.
    delete reset['ResetType@Redfish.AllowableValues'];
    const log = createMemoryLogger();
    const d = createRedfishDriver(
      {
        driver: 'redfish',
        address: `127.0.0.1:${m.port}`,
        username: 'admin',
        password,
        options: { fingerprint: m.fingerprint, timeoutMs: 3000 },
      },
      { logger: log },
    );
    try {
      await assert.rejects(
        d.setPower('on'),
        (e) =>
          hasCode(e, 'bmc_error') &&
          /failed with HTTP 400/.test((e as Error).message) &&
          !/acceptable values/.test((e as Error).message),
      );
      assert.ok(
        log.lines.some(
          (l) => l.level === 'debug' && /not in the list of acceptable values/.test(JSON.stringify(l.obj)),
        ),
        "the BMC's words are in the debug log",
      );
    } finally {
      await d.close();
      await m.stop();
    }
  });

  it('a link to another host or port is refused before any request reaches it (credentials stay with this BMC)', async () => {
    const m = await startRedfishMock({ dir: dir!, username: 'admin', password, sessions: false });
    let connections = 0;
    const other = createServer((sock) => {
      connections++;
      sock.destroy();
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherPort = (other.address() as { port: number }).port;
    const systems = m.docs.get('/redfish/v1/Systems')!.Members as Array<{ '@odata.id': string }>;
    const d = driverFor(m);
    try {
      for (const link of [
        `https://127.0.0.1:${otherPort}/redfish/v1/Systems/1`,
        `//127.0.0.1:${otherPort}/redfish/v1/Systems/1`,
        `http://127.0.0.1:${m.port}/redfish/v1/Systems/1`,
      ]) {
        systems[0]['@odata.id'] = link;
        await assert.rejects(
          d.listSystems(),
          (e) => hasCode(e, 'bmc_error') && /named a link on another host or port/.test((e as Error).message),
          link,
        );
      }
      assert.equal(connections, 0, 'nothing was sent to the other host');
    } finally {
      await d.close();
      await m.stop();
      await new Promise((r) => other.close(r));
    }
  });
});
