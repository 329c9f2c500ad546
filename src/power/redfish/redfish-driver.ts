import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { assertBootOverride, assertPowerAction } from '../capability.js';
import { optionReader } from '../driver-options.js';
import { parseReportedMacs } from '../../net/mac.js';
import {
  powerActions,
  type BmcSettings,
  type PowerCapabilities,
  type PowerDriver,
  type SystemSummary,
} from '../power-driver.js';
import { peerToken } from '../secret.js';
import { createRedfishClient, type RedfishClient, type RedfishReply } from './redfish-client.js';
import {
  bootPatch,
  linkOf,
  membersOf,
  parseRedfishPowerState,
  pickResetType,
  summarizeSystem,
} from './redfish-decide.js';
import { createBmcDispatcher } from './redfish-tls.js';

type Doc = Record<string, unknown>;

/**
 * Redfish offers everything the interface has. Some BMCs refuse parts at run
 * time (a reset type or boot target missing from their allowable values);
 * those calls fail with `bmc_unsupported` naming what the BMC allows.
 */
export const redfishCapabilities: PowerCapabilities = {
  powerActions,
  status: true,
  bootOnce: ['network', 'disk', 'http'],
  bootPersistent: ['network', 'disk', 'http'],
  virtualMedia: true,
  enumerate: true,
  inventory: true,
};

/**
 * The BMC's base URL from an operator's address: `host[:port]` (HTTPS) or an
 * http(s) URL with no user, password, path, query or fragment. Kiln talks to
 * that origin only (the client refuses links to another), sends no Kiln token
 * there, and never shows the BMC's reply text to a caller, so an address on
 * the controller's own loopback gains nothing (docs/security.md).
 */
export function redfishBaseUrl(address: string): string {
  const bad = (why: string): never => {
    throw new KilnError('validation_failed', `Redfish address ${why}`, {
      issues: [{ path: '/bmc/address', code: 'url_refused', message: why }],
    });
  };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(address)) bad('may not contain spaces or control characters');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `https://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return bad('must be host[:port] or an https:// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') bad('must use https:// (or http:// for a test BMC)');
  if (url.username || url.password) bad('may not carry a user or password (use the BMC username and password fields)');
  if (!url.hostname) bad('needs a host');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    bad("must be the BMC's origin only (no path, query or fragment)");
  return url.origin;
}

/**
 * Creates a Redfish driver. Address is `host[:port]` or an https URL.
 * Options: `systemId` (required only when the BMC has several systems),
 * `timeoutMs` (15000), `auth` (`session` | `basic`), and TLS trust: `ca`
 * (PEM), `fingerprint` (SHA-256 pin) or `insecure: true`.
 */
export function createRedfishDriver(settings: BmcSettings, deps: { logger?: Logger } = {}): PowerDriver {
  const name = settings.driver || 'redfish';
  const logger = deps.logger ?? silentLogger;
  const opt = optionReader(name, settings.options);
  const timeoutMs = opt.number('timeoutMs', 15_000);
  const wantedSystem = opt.string('systemId');
  const auth = opt.string('auth');
  if (auth !== undefined && auth !== 'session' && auth !== 'basic') {
    throw new KilnError('validation_failed', 'Redfish option auth must be "session" or "basic"', {
      issues: [{ path: '/bmc/options/auth', code: 'invalid_value', message: 'session or basic' }],
    });
  }
  const baseUrl = redfishBaseUrl(settings.address);
  const dispatcher = createBmcDispatcher(
    { ca: opt.string('ca'), fingerprint: opt.string('fingerprint'), insecure: opt.boolean('insecure', false) },
    timeoutMs,
    logger,
    baseUrl,
  );
  const client: RedfishClient = createRedfishClient({
    baseUrl,
    username: settings.username ?? '',
    password: settings.password ?? '',
    dispatcher,
    timeoutMs,
    auth,
    logger,
  });
  let systemPath: string | undefined;

  /** GET that must succeed with 2xx; otherwise a bmc_error with the BMC's own message. */
  async function getOk(path: string, signal?: AbortSignal): Promise<RedfishReply> {
    return ok(await client.get(path, signal), 'GET', path);
  }
  function ok(r: RedfishReply, method: string, path: string): RedfishReply {
    if (r.status >= 200 && r.status < 300) return r;
    // The BMC's error text is logged at debug by the client; events (which viewers read) get the status only.
    throw new KilnError(
      'bmc_error',
      `BMC ${baseUrl}: ${method} ${peerToken(path)} failed with HTTP ${r.status} (the BMC's message is in the controller log at debug)`,
      { details: { status: r.status } },
    );
  }

  async function systemIds(signal?: AbortSignal): Promise<string[]> {
    const root = await getOk('/redfish/v1/', signal);
    const systems = linkOf(root.body.Systems);
    if (!systems) throw new KilnError('bmc_error', `BMC ${baseUrl}: service root has no Systems link`);
    return membersOf((await getOk(systems, signal)).body, 'Systems');
  }

  // DSP0266: never guess a system id; discover it from the Systems collection.
  async function system(signal?: AbortSignal): Promise<string> {
    if (systemPath) return systemPath;
    const members = await systemIds(signal);
    const pick = wantedSystem
      ? members.find((m) => m.replace(/\/$/, '').split('/').pop() === wantedSystem)
      : members.length === 1
        ? members[0]
        : undefined;
    if (!pick) {
      const ids = members.map((m) => peerToken(m.split('/').pop())).join(', ') || '(none)';
      throw new KilnError(
        wantedSystem || members.length === 0 ? 'bmc_error' : 'validation_failed',
        wantedSystem
          ? `BMC ${baseUrl} has no system "${wantedSystem}" (systems: ${ids})`
          : `BMC ${baseUrl} has ${members.length} systems (${ids}); set options.systemId`,
        {
          issues:
            wantedSystem || members.length === 0
              ? []
              : [{ path: '/bmc/options/systemId', code: 'required', message: `one of ${ids}` }],
        },
      );
    }
    systemPath = pick;
    return pick;
  }

  async function macsOf(sys: Doc, signal?: AbortSignal): Promise<string[]> {
    const coll = linkOf(sys.EthernetInterfaces);
    if (!coll) return [];
    const raw: string[] = [];
    for (const m of membersOf((await getOk(coll, signal)).body, 'EthernetInterfaces')) {
      const nic = (await getOk(m, signal)).body;
      for (const k of ['MACAddress', 'PermanentMACAddress']) if (typeof nic[k] === 'string') raw.push(nic[k]);
    }
    return parseReportedMacs(raw);
  }

  // Virtual media lives under the system (Redfish 2021.3+) or under its manager (older BMCs).
  async function cdSlot(signal?: AbortSignal): Promise<Doc & { path: string }> {
    const sys = (await getOk(await system(signal), signal)).body;
    const managers = ((sys.Links as Doc | undefined)?.ManagedBy as unknown[] | undefined) ?? [];
    const collections = [linkOf(sys.VirtualMedia)];
    for (const m of managers) {
      const p = linkOf(m);
      if (p) collections.push(linkOf((await getOk(p, signal)).body.VirtualMedia));
    }
    for (const c of collections.filter((x): x is string => !!x)) {
      for (const m of membersOf((await getOk(c, signal)).body, 'VirtualMedia')) {
        const slot = (await getOk(m, signal)).body;
        if (Array.isArray(slot.MediaTypes) && slot.MediaTypes.some((t) => t === 'CD' || t === 'DVD'))
          return { ...slot, path: m };
      }
    }
    throw new KilnError('bmc_unsupported', `BMC ${baseUrl} offers no CD/DVD virtual media slot`);
  }

  async function setMedia(image: string | null, signal?: AbortSignal): Promise<void> {
    const slot = await cdSlot(signal);
    const actions = (slot.Actions as Doc | undefined) ?? {};
    const action = image ? actions['#VirtualMedia.InsertMedia'] : actions['#VirtualMedia.EjectMedia'];
    const target = (action as { target?: unknown } | undefined)?.target;
    if (typeof target === 'string') {
      ok(
        await client.send('POST', target, image ? { Image: image, Inserted: true, WriteProtected: true } : {}, {
          signal,
        }),
        'POST',
        target,
      );
      return;
    }
    // VirtualMedia v1.0-1.2 has no actions: PATCH Image and Inserted instead.
    const r = await client.send(
      'PATCH',
      slot.path,
      image ? { Image: image, Inserted: true } : { Image: null, Inserted: false },
      { ifMatch: etagOf(slot), signal },
    );
    ok(r, 'PATCH', slot.path);
  }

  const etagOf = (d: Doc) => (typeof d['@odata.etag'] === 'string' ? d['@odata.etag'] : undefined);

  return {
    driver: name,
    capabilities: redfishCapabilities,
    async powerStatus(o) {
      return parseRedfishPowerState((await getOk(await system(o?.signal), o?.signal)).body);
    },
    async setPower(action, o) {
      assertPowerAction(name, redfishCapabilities, action);
      const sys = (await getOk(await system(o?.signal), o?.signal)).body;
      const reset = (sys.Actions as Doc | undefined)?.['#ComputerSystem.Reset'] as Doc | undefined;
      if (!reset || typeof reset.target !== 'string')
        throw new KilnError('bmc_error', `BMC ${baseUrl}: ComputerSystem has no #ComputerSystem.Reset action target`);
      let allowed = reset['ResetType@Redfish.AllowableValues'] as string[] | undefined;
      const info = typeof reset['@Redfish.ActionInfo'] === 'string' ? reset['@Redfish.ActionInfo'] : undefined;
      if (!allowed && info) {
        const params = (await getOk(info, o?.signal)).body.Parameters as
          Array<{ Name?: string; AllowableValues?: string[] }> | undefined;
        allowed = params?.find((p) => p.Name === 'ResetType')?.AllowableValues;
      }
      const type = pickResetType(action, allowed);
      ok(await client.send('POST', reset.target, { ResetType: type }, { signal: o?.signal }), 'POST', reset.target);
      logger.info({ action, resetType: type }, 'Redfish reset sent');
    },
    async setBootDevice(b, o) {
      assertBootOverride(name, redfishCapabilities, b);
      const path = await system(o?.signal);
      for (let attempt = 0; ; attempt++) {
        const r = await getOk(path, o?.signal);
        const patch = bootPatch(r.body, b);
        const res = await client.send('PATCH', path, { Boot: patch }, { ifMatch: r.etag, signal: o?.signal });
        // 412: the system changed between our GET and PATCH; re-read once.
        if (res.status === 412 && attempt === 0) continue;
        ok(res, 'PATCH', path);
        return;
      }
    },
    insertMedia: (url, o) => setMedia(url, o?.signal),
    ejectMedia: (o) => setMedia(null, o?.signal),
    async listSystems(o) {
      const out: SystemSummary[] = [];
      for (const m of await systemIds(o?.signal)) {
        const sys = (await getOk(m, o?.signal)).body;
        out.push(summarizeSystem(sys, await macsOf(sys, o?.signal)));
      }
      return out;
    },
    async readInventory(o) {
      const sys = (await getOk(await system(o?.signal), o?.signal)).body;
      const inv = { ...summarizeSystem(sys, await macsOf(sys, o?.signal)) } as ReturnType<typeof summarizeSystem> &
        Record<string, unknown>;
      const cpu =
        (sys.ProcessorSummary as Doc | undefined)?.LogicalProcessorCount ??
        (sys.ProcessorSummary as Doc | undefined)?.Count;
      const mem = (sys.MemorySummary as Doc | undefined)?.TotalSystemMemoryGiB;
      if (typeof cpu === 'number') inv.cpuCount = cpu;
      if (typeof mem === 'number') inv.memoryMiB = Math.round(mem * 1024);
      if (typeof sys.BiosVersion === 'string') inv.biosVersion = sys.BiosVersion;
      return inv;
    },
    async close() {
      await client.logout();
      await dispatcher.close();
    },
  };
}
