import type { Kysely } from 'kysely';
import { KilnError } from '../error/kiln-error.js';
import type { NewEvent } from '../event/event.js';
import { appendEvent } from '../event/event-log.js';
import type { Database } from '../schema.js';
import type { Host } from '../inventory/host.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { assertBootOverride, assertPowerAction } from './capability.js';
import { systemClock, type Clock } from './clock.js';
import { createPowerService, type PowerConfig } from './create-power.js';
import { createDriverCache } from './driver-cache.js';
import { enlistHosts, type EnlistResult } from './enlist-hosts.js';
import { networkBootOverride, planPowerOff, planPowerUp } from './plan-netboot.js';
import { runPowerPoller } from './poll-power-state.js';
import type {
  BmcSettings,
  BootDevice,
  PowerAction,
  PowerCapabilities,
  PowerDriver,
  PowerState,
} from './power-driver.js';
import { driftEvent, eventFromReport, expectedStateAfter, pollerActor } from './power-events.js';
import type { BatchItem, PowerOperation, PowerOrigin, PowerReport } from './power-queue.js';
import type { PowerDriverFactory, PowerDriverRegistry } from './power-registry.js';
import { redactingLogger } from './redacting-logger.js';
import { defaultAdmissionRules, type AdmissionRules, type HeadroomSample } from './admission.js';
import { createAdmissionGate, type AdmissionStats } from './admission-gate.js';
import { redactSecrets } from './secret.js';

/** Power settings of a controller; `extraDrivers` adds factories (tests, plugins) next to the built-in ones. */
export interface HostPowerConfig extends PowerConfig {
  extraDrivers?: Record<string, PowerDriverFactory>;
  /** Admission control: ms a machine a paced batch powered on counts as booting before the timeline sees it (`power-launch-grace`); default `defaultAdmissionRules.launchGraceMs`. */
  launchGraceMs?: number;
}

/** The admission rules of a batch: the defaults, the controller's `launchGraceMs`, then `override` (tests). */
export function admissionRulesOf(
  cfg: Pick<HostPowerConfig, 'launchGraceMs'>,
  override: Partial<AdmissionRules> = {},
): AdmissionRules {
  const grace = cfg.launchGraceMs !== undefined ? { launchGraceMs: cfg.launchGraceMs } : {};
  return { ...defaultAdmissionRules, ...grace, ...override };
}

/** What the host power service needs of the inventory. */
export type PowerInventory = Pick<
  InventoryService,
  | 'getHost'
  | 'listHosts'
  | 'revealBmcPassword'
  | 'recordEvent'
  | 'listEvents'
  | 'findHostByMac'
  | 'createHost'
  | 'updateHost'
>;

/** A host's power as the API shows it; `state` is null when the driver cannot read it. */
export interface HostPowerStatus {
  host: string;
  driver: string;
  state: PowerState | null;
  /** The state Kiln last recorded (set, or read by the poller); null when never known. */
  recorded: PowerState | null;
  capabilities: PowerCapabilities;
}

/** One host's result in a batch power-on. */
export interface BatchResult {
  host: string;
  ok: boolean;
  error?: { code: string; message: string };
}

/** How a batch's starts are paced: at most `maxParallel` at once, host i no earlier than i × `staggerMs`, and with `headroom` only when the data plane has room (admission.ts). */
export interface BatchPacing {
  staggerMs: number;
  maxParallel: number;
  pacing: 'headroom' | 'stagger';
}

/** Actor of power operations asked for by deploy and release. */
export const deployActor = 'kiln:deploy';

/** Default queue limits when the composition root gives none. */
export const defaultPowerConfig: PowerConfig = { maxConcurrent: 20, timeoutMs: 60_000 };

/** A BMC that echoes the password into its error must not put it in a reply: the same error with `***`. */
function withoutSecret(err: unknown, secret: string | undefined): unknown {
  if (!(err instanceof KilnError) || !secret || !err.message.includes(secret)) return err;
  return new KilnError(err.code, redactSecrets(err.message, [secret]), { issues: err.issues, details: err.details });
}

function withExtras(
  base: PowerDriverRegistry,
  extras: Record<string, PowerDriverFactory> | undefined,
  logger: Logger,
): PowerDriverRegistry {
  if (!extras || Object.keys(extras).length === 0) return base;
  return {
    names: () => [...new Set([...base.names(), ...Object.keys(extras)])].sort(),
    create: (s) => (extras[s.driver] ? extras[s.driver](s, { logger }) : base.create(s)),
    check: (s) => {
      if (!extras[s.driver]) base.check(s);
    },
  };
}

/** A role's fenced write (src/cluster): runs `fn` in one transaction, `ok: false` when the role moved (nothing written). */
export type PowerWrite = (fn: (tx: Kysely<Database>) => Promise<void>) => Promise<{ ok: boolean }>;

/**
 * Glue between inventory and the power queue: builds (and keeps) each
 * host's driver from its BMC settings, runs operations through the queue,
 * records every report as an event (`power.*`; the poller's own status reads
 * only as drift, and a failing BMC once per failure streak), and answers
 * deploy's power requests. Owns the drivers: call `close` on shutdown.
 */
export function createHostPower(deps: {
  inventory: PowerInventory;
  config?: Partial<HostPowerConfig>;
  logger?: Logger;
  clock?: Clock;
  /** The data plane's headroom now (admission control of batches); without it a batch is paced by its stagger only. */
  headroom?: () => Omit<HeadroomSample, 'at'>;
  admission?: Partial<AdmissionRules> & { intervalMs?: number; maxWaitMs?: number };
}) {
  const { inventory } = deps;
  const secrets = new Map<string, string>();
  const logger = redactingLogger(deps.logger ?? silentLogger, () => [...secrets.values()]);
  const cfg = { ...defaultPowerConfig, ...deps.config };
  const names = new Map<string, string>();
  const known = new Map<string, PowerState>();
  const failingPolls = new Set<string>();
  let written: Promise<void> = Promise.resolve();
  /** While the poller runs as the `power-poll` role: its fenced write, which carries the events of its polls. */
  let pollWrite: PowerWrite | null = null;
  const clock = deps.clock ?? systemClock;

  // Events are written in report order on one chain; a failed write is logged, never thrown into the queue.
  // A poll's own events (`fromPoll`: drift and failed reads of the poller) go through the role's fenced write: a
  // poller that was paused and replaced has them refused instead of writing beside the new holder's.
  const record = (e: NewEvent, fromPoll = false): void => {
    const w = fromPoll ? pollWrite : null;
    written = written
      .then(async () => {
        if (!w) return inventory.recordEvent(e);
        const at = new Date(clock.now()).toISOString();
        const r = await w((tx) => appendEvent(tx, e, at));
        if (!r.ok)
          logger.warn({ kind: e.kind, hostId: e.hostId }, 'power poll event refused: another controller polls now');
      })
      .catch((err: Error) =>
        logger.error({ kind: e.kind, hostId: e.hostId, err: err.message }, 'recording a power event failed'),
      );
  };

  function observe(r: PowerReport): void {
    const next = expectedStateAfter(r);
    if (!next || next === 'unknown') return;
    const prev = known.get(r.hostId);
    known.set(r.hostId, next);
    if (r.operation.kind === 'status' && prev !== undefined && prev !== next) {
      record(driftEvent(r.hostId, names.get(r.hostId) ?? null, prev, next, r.origin?.actor ?? pollerActor), !r.origin);
    }
  }

  function onReport(r: PowerReport): void {
    const pollRead = r.operation.kind === 'status' && !r.origin;
    if (!pollRead) record(eventFromReport(r, names.get(r.hostId) ?? null, [secrets.get(r.hostId)]));
    else if (r.phase === 'failed' && !failingPolls.has(r.hostId)) {
      failingPolls.add(r.hostId);
      record(eventFromReport(r, names.get(r.hostId) ?? null, [secrets.get(r.hostId)]), true);
    }
    if (r.phase === 'succeeded') {
      if (r.operation.kind === 'status') failingPolls.delete(r.hostId);
      observe(r);
    }
  }

  const power = createPowerService(
    {
      maxConcurrent: cfg.maxConcurrent,
      timeoutMs: cfg.timeoutMs,
      allowFake: cfg.allowFake,
      libvirtTestDriver: cfg.libvirtTestDriver,
    },
    { logger, onReport, clock: deps.clock },
  );
  const registry = withExtras(power.registry, cfg.extraDrivers, logger);
  const cache = createDriverCache(registry, logger);

  async function seedKnown(hostId: string): Promise<void> {
    if (known.has(hostId)) return;
    const events = await inventory.listEvents({ hostId, kindPrefix: 'power.', order: 'desc', limit: 20 });
    const s = events
      .map((e) => (e.data as { state?: unknown } | null)?.state)
      .find((v): v is PowerState => v === 'on' || v === 'off');
    if (s && !known.has(hostId)) known.set(hostId, s);
  }

  async function driverFor(host: Host): Promise<PowerDriver> {
    if (!host.bmc) {
      throw new KilnError(
        'validation_failed',
        `host ${host.name} has no BMC settings; set them with \`kiln host edit ${host.name} --bmc-driver …\``,
        {
          issues: [{ path: '/bmc', code: 'required', message: 'the host needs BMC settings for power control' }],
        },
      );
    }
    const password = (await inventory.revealBmcPassword(host.id)) ?? undefined;
    names.set(host.id, host.name);
    if (password) secrets.set(host.id, password);
    else secrets.delete(host.id);
    await seedKnown(host.id);
    const settings: BmcSettings = {
      driver: host.bmc.driver,
      address: host.bmc.address ?? '',
      options: host.bmc.options,
      ...(host.bmc.username ? { username: host.bmc.username } : {}),
      ...(password ? { password } : {}),
    };
    return cache.get(host.id, settings);
  }

  async function bind(hostRef: string): Promise<{ host: Host; driver: PowerDriver }> {
    const host = await inventory.getHost(hostRef);
    return { host, driver: await driverFor(host) };
  }

  const redactError = (err: unknown, hostId: string): unknown => withoutSecret(err, secrets.get(hostId));

  /** Runs one operation and waits until its events are written, so a reply never outruns the audit log. */
  async function run(
    host: Host,
    driver: PowerDriver,
    op: PowerOperation,
    origin?: PowerOrigin,
  ): Promise<PowerState | undefined> {
    try {
      return await power.queue.submit(host.id, driver, op, origin);
    } catch (err) {
      throw redactError(err, host.id);
    } finally {
      await written;
    }
  }

  /**
   * Runs one batch through the power queue: `item` makes each bound host's start; paced by the data plane's
   * headroom unless `pacing` is `stagger`. One result per entry of `bound`, in order (a host that could not be
   * bound fails with its error), and what the admission control saw.
   */
  async function pacedBatch(
    bound: Array<{ ref: string; host: Host; driver: PowerDriver } | { ref: string; error: KilnError }>,
    o: BatchPacing,
    item: (b: { host: Host; driver: PowerDriver }) => BatchItem,
  ): Promise<{ items: BatchResult[]; admission: AdmissionStats | null }> {
    const ready = bound.filter((b): b is { ref: string; host: Host; driver: PowerDriver } => 'host' in b);
    const headroom = deps.headroom;
    const gate =
      o.pacing === 'headroom' && headroom
        ? createAdmissionGate({
            sample: headroom,
            clock,
            rules: admissionRulesOf(cfg, deps.admission),
            intervalMs: deps.admission?.intervalMs ?? 250,
            maxWaitMs: deps.admission?.maxWaitMs ?? 30_000,
            onCut: (reason, window) => logger.info({ reason, window }, 'power batch: data plane congested, window cut'),
            onProgress: (p) => logger.info({ hosts: ready.length, ...p }, 'power batch: progress'),
          })
        : undefined;
    const outcomes = await power.queue.powerOnBatch(ready.map(item), {
      staggerMs: o.staggerMs,
      maxParallel: o.maxParallel,
      gate,
    });
    await written;
    const admission = gate?.stats() ?? null;
    if (admission) logger.info({ hosts: ready.length, ...admission }, 'power batch: admission control');
    const byId = new Map(outcomes.map((x) => [x.hostId, x]));
    const items = bound.map((b) => {
      if (!('host' in b))
        return { host: b.ref, ok: false, error: { code: b.error.code ?? 'internal', message: b.error.message } };
      const x = byId.get(b.host.id)!;
      return {
        host: b.host.name,
        ok: x.ok,
        ...(x.error
          ? { error: { code: x.error.code, message: redactSecrets(x.error.message, [secrets.get(b.host.id)]) } }
          : {}),
      };
    });
    return { items, admission };
  }

  const self = {
    /** Registered driver names (`GET /power/drivers`). */
    drivers: (): string[] => registry.names(),

    /** Throws `validation_failed` for BMC settings the host's driver would refuse (the inventory calls it before storing them). */
    checkBmc(bmc: {
      driver: string;
      address?: string | null;
      username?: string | null;
      options?: Record<string, unknown>;
    }): void {
      registry.check({
        driver: bmc.driver,
        address: bmc.address ?? '',
        options: bmc.options ?? {},
        ...(bmc.username ? { username: bmc.username } : {}),
      });
    },

    /** Reads the power state through the queue; `state` is null when the driver offers no status. */
    async status(hostRef: string, origin: PowerOrigin): Promise<HostPowerStatus> {
      const { host, driver } = await bind(hostRef);
      const state = driver.capabilities.status
        ? ((await run(host, driver, { kind: 'status' }, origin)) ?? 'unknown')
        : null;
      return {
        host: host.name,
        driver: driver.driver,
        state,
        recorded: known.get(host.id) ?? null,
        capabilities: driver.capabilities,
      };
    },

    /** Runs a power action and returns the host's name; `bmc_unsupported` (no event) when the driver does not offer it. */
    async setPower(hostRef: string, action: PowerAction, origin: PowerOrigin): Promise<string> {
      const { host, driver } = await bind(hostRef);
      assertPowerAction(driver.driver, driver.capabilities, action);
      await run(host, driver, { kind: 'power', action }, origin);
      return host.name;
    },

    /** Sets the next (or every, when persistent) boot device; the UEFI flag follows the host's firmware. */
    async setBootDevice(
      hostRef: string,
      device: BootDevice,
      persistent: boolean,
      origin: PowerOrigin,
    ): Promise<string> {
      const { host, driver } = await bind(hostRef);
      const override = { device, persistent, ...(host.firmware ? { uefi: host.firmware === 'uefi' } : {}) };
      assertBootOverride(driver.driver, driver.capabilities, override);
      await run(host, driver, { kind: 'boot', override }, origin);
      return host.name;
    },

    /**
     * Powers on many hosts with a stagger (and a network boot override first when asked), paced by the data
     * plane's headroom unless `pacing` is `stagger` (admission.ts); one result per host, in order, and what the
     * admission control saw.
     */
    async powerOnBatch(
      hostRefs: string[],
      o: BatchPacing & { bootNetwork: boolean },
      origin: PowerOrigin,
    ): Promise<{ items: BatchResult[]; admission: AdmissionStats | null }> {
      const bound = await Promise.all(
        hostRefs.map(async (ref) => {
          try {
            return { ref, ...(await bind(ref)) };
          } catch (err) {
            return { ref, error: err as KilnError };
          }
        }),
      );
      return pacedBatch(bound, o, (b) => ({
        hostId: b.host.id,
        driver: b.driver,
        origin,
        // A driver with no network boot override at all fails this item with bmc_unsupported before powering on.
        ...(o.bootNetwork
          ? { boot: networkBootOverride(b.driver.capabilities, b.host.firmware) ?? { device: 'network' as const } }
          : {}),
      }));
    },

    /**
     * Deploy's network boot for many hosts at once (`POST /api/v1/deployments/batch`): each host's `request(…,
     * 'netboot')` (boot override, then cycle or power on), the starts paced as `powerOnBatch` paces them.
     */
    async netbootBatch(
      hosts: Host[],
      o: BatchPacing,
      reason: string,
    ): Promise<{ items: BatchResult[]; admission: AdmissionStats | null }> {
      const bound = await Promise.all(
        hosts.map(async (host) => {
          try {
            return { ref: host.name, host, driver: await driverFor(host) };
          } catch (err) {
            return { ref: host.name, error: err as KilnError };
          }
        }),
      );
      return pacedBatch(bound, o, (b) => ({
        hostId: b.host.id,
        driver: b.driver,
        start: () => self.request(b.host, 'netboot', reason),
      }));
    },

    /**
     * Deploy's and release's power request: `netboot` sets a network boot
     * override (one-time if offered, else persistent, else none), then cycles
     * a running machine or powers on a stopped one; `poweroff` turns it off.
     */
    async request(host: Host, action: 'netboot' | 'poweroff', reason: string, actor = deployActor): Promise<void> {
      const driver = await driverFor(host);
      const origin = { actor, reason };
      if (action === 'poweroff') {
        await run(host, driver, planPowerOff(driver.driver, driver.capabilities), origin);
        return;
      }
      const boot = networkBootOverride(driver.capabilities, host.firmware);
      if (boot) await run(host, driver, { kind: 'boot', override: boot }, origin);
      const current = driver.capabilities.status ? await run(host, driver, { kind: 'status' }, origin) : undefined;
      for (const op of planPowerUp(driver.driver, driver.capabilities, current)) await run(host, driver, op, origin);
    },

    /** Creates or updates one host per system the BMC or hypervisor reports (see `enlistHosts`). */
    async enlist(settings: BmcSettings, origin: PowerOrigin): Promise<EnlistResult> {
      return enlistHosts(settings, {
        inventory,
        registry,
        timeoutMs: cfg.timeoutMs,
        actor: origin.actor,
        reason: origin.reason ?? null,
      }).catch((err: unknown) => {
        throw withoutSecret(err, settings.password);
      });
    },

    /**
     * Polls every host with BMC settings every `intervalMs` until `signal`
     * aborts, recording `power.drift` when a state differs from the recorded
     * one. Resolves when stopped. `write` (the `power-poll` role's fenced write) carries the poll's events.
     */
    async runPoller(o: {
      intervalMs: number;
      signal: AbortSignal;
      fence?: () => Promise<boolean>;
      write?: PowerWrite;
    }): Promise<void> {
      pollWrite = o.write ?? null;
      try {
        await runPowerPoller({
          intervalMs: o.intervalMs,
          signal: o.signal,
          ...(o.fence ? { fence: o.fence } : {}),
          queue: power.queue,
          clock: deps.clock,
          logger,
          onDrift: () => {
            /* recorded from the report (observe), which also covers operator status reads */
          },
          targets: async () => {
            const targets = [];
            for (const host of await allHostsWithBmc()) {
              try {
                targets.push({ hostId: host.id, driver: await driverFor(host), known: known.get(host.id) });
              } catch (err) {
                logger.warn({ host: host.name, err: (err as Error).message }, 'cannot poll the power of a host');
              }
            }
            return targets;
          },
        });
      } finally {
        pollWrite = null;
      }
    },

    /** Waits for pending event writes and closes every driver. */
    async close(): Promise<void> {
      await written;
      await cache.closeAll();
    },
  };
  return self;

  async function allHostsWithBmc(): Promise<Host[]> {
    const out: Host[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await inventory.listHosts({ limit: 1000, ...(after ? { after } : {}) });
      out.push(...page.filter((h) => h.bmc));
      if (page.length < 1000) return out;
      after = page.at(-1)!.name;
    }
  }
}

/** The host power service's type. */
export type HostPower = ReturnType<typeof createHostPower>;
