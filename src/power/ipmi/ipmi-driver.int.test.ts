// IPMI driver against a real OpenIPMI ipmi_sim BMC on 127.0.0.1 (see testing/start-ipmi-sim.ts).
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createMemoryLogger } from '../../log/logger.js';
import { runPowerDriverConformance } from '../power-driver.conformance.js';
import { createIpmiDriver } from './ipmi-driver.js';
import { freeUdpPort, hasIpmiSim, startIpmiSim, type IpmiSim } from './testing/start-ipmi-sim.js';

const skip = hasIpmiSim() ? false : 'ipmi_sim or ipmitool not installed (apt-get install openipmi ipmitool)';
const password = 'sim-Secret-42';
const logger = createMemoryLogger();
const fast = { retries: 1, retryTimeoutSec: 1, timeoutMs: 8000 };
let sim: IpmiSim | undefined;
let hung: Socket | undefined;
let hungPort = 0;

const driverFor = (port: number, pw = password, options: Record<string, unknown> = fast) =>
  createIpmiDriver(
    { driver: 'ipmi', address: `127.0.0.1:${port}`, username: 'kiln', password: pw, options },
    { logger },
  );

// ipmi_sim names the boot device selector values it passes to chassis_control:
// pxe for "force PXE", default for "force boot from default hard drive".
const simBoot: Record<string, 'network' | 'disk'> = { pxe: 'network', default: 'disk' };

runPowerDriverConformance({
  name: 'ipmi (ipmi_sim)',
  skip,
  secret: password,
  capturedLogs: () => JSON.stringify(logger.lines),
  setup: async () => {
    sim = await startIpmiSim(password);
    hung = createSocket('udp4');
    await new Promise<void>((r) => hung!.bind(0, '127.0.0.1', r)); // receives, never answers
    hungPort = hung.address().port;
    return {
      driver: driverFor(sim.port),
      observePower: async () => sim!.power(),
      observeBoot: async () => simBoot[sim!.boot() ?? ''],
      cleanup: async () => {
        await sim?.stop();
        await new Promise<void>((r) => hung?.close(() => r()));
      },
    };
  },
  errorCases: [
    { name: 'wrong password', create: () => driverFor(sim!.port, 'not-the-password'), code: 'bmc_error' },
    {
      name: 'closed port on 127.0.0.1',
      create: async () => driverFor(await freeUdpPort()),
      code: 'bmc_timeout',
      withinMs: 8000,
    },
    {
      name: 'BMC that never answers (ipmitool gives up)',
      create: () => driverFor(hungPort),
      code: 'bmc_timeout',
      withinMs: 8000,
    },
    {
      name: 'BMC that never answers (hard kill timer)',
      create: () => driverFor(hungPort, password, { retries: 5, retryTimeoutSec: 5, timeoutMs: 700 }),
      code: 'bmc_timeout',
      withinMs: 2500,
    },
    {
      name: 'unsupported cipher suite',
      create: () => driverFor(sim!.port, password, { ...fast, cipherSuite: 17 }),
      code: 'bmc_error',
    },
  ],
});

describe('ipmi driver secret hygiene (ipmi_sim)', { skip }, () => {
  let s: IpmiSim;
  before(async () => {
    s = await startIpmiSim(password);
  });
  after(async () => {
    await s?.stop();
  });

  it('passes the password in the environment, never on the command line', async () => {
    const seen: Array<{ argv: string; env: string }> = [];
    const d = createIpmiDriver(
      { driver: 'ipmi', address: '127.0.0.1', username: 'kiln', password, options: { ...fast, port: s.port } },
      {
        onSpawn: (pid) => {
          try {
            seen.push({
              argv: readFileSync(`/proc/${pid}/cmdline`, 'utf8'),
              env: readFileSync(`/proc/${pid}/environ`, 'utf8'),
            });
          } catch {
            /* exited already: the assertion on seen.length catches it */
          }
        },
      },
    );
    assert.equal(await d.powerStatus(), s.power());
    assert.equal(seen.length, 1);
    const argv = seen[0].argv.split('\0');
    assert.equal(argv[0], 'ipmitool');
    assert.ok(argv.includes('-E'), 'uses -E (password from IPMI_PASSWORD)');
    assert.ok(!seen[0].argv.includes(password), 'password not in argv');
    assert.ok(seen[0].env.split('\0').includes(`IPMI_PASSWORD=${password}`), 'password in the child environment');
  });

  it('sends efiboot and persistent when asked', async () => {
    const d = driverFor(s.port);
    await d.setBootDevice({ device: 'network', persistent: true, uefi: true });
    assert.equal(s.boot(), 'pxe');
    await d.setBootDevice({ device: 'disk' });
    assert.equal(s.boot(), 'default');
  });
});
