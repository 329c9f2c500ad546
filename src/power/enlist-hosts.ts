import { KilnError, isNotFound } from '../error/kiln-error.js';
import type { BmcInput, Host, Nic } from '../inventory/host.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import { parseMac, type Mac } from '../net/mac.js';
import { enlistSystems } from './enlist-systems.js';
import type { BmcSettings, SystemSummary } from './power-driver.js';
import type { PowerDriverRegistry } from './power-registry.js';

/** What an enlistment did: hosts created and updated (one per system), with the system each came from. */
export interface EnlistResult {
  created: Array<{ id: string; name: string; systemId: string; macs: string[] }>;
  updated: Array<{ id: string; name: string; systemId: string; macs: string[] }>;
}

type EnlistInventory = Pick<InventoryService, 'getHost' | 'findHostByMac' | 'createHost' | 'updateHost'>;

/**
 * A host name (RFC 1123) from a BMC's system name: lower case, other
 * characters become hyphens; falls back to `host-<first MAC>` when nothing is left.
 */
export function hostNameFor(system: SystemSummary): string {
  const cleaned = system.name
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .split('.')
    .map((l) =>
      l
        .replace(/^-+|-+$/g, '')
        .slice(0, 63)
        .replace(/-+$/, ''),
    )
    .filter(Boolean)
    .join('.');
  if (cleaned) return cleaned.slice(0, 253);
  return `host-${(system.macs[0] ?? system.systemId).replace(/[^a-z0-9]/gi, '').toLowerCase() || 'unnamed'}`;
}

async function freeName(inventory: EnlistInventory, base: string): Promise<string> {
  for (let i = 1; i < 100; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    try {
      await inventory.getHost(name);
    } catch (err) {
      if (isNotFound(err)) return name;
      throw err;
    }
  }
  throw new KilnError('conflict', `no free host name near ${base}; rename the existing hosts or the BMC's systems`);
}

/** A MAC-less system matches the host of its name only when that host already points at the same BMC system (re-enlistment). */
async function sameSystem(
  inventory: EnlistInventory,
  name: string,
  address: string,
  systemId: string,
): Promise<Host | null> {
  try {
    const h = await inventory.getHost(name);
    return h.bmc?.address === address && h.bmc.options['systemId'] === systemId ? h : null;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

async function withTimeout<T>(p: (signal: AbortSignal) => Promise<T>, ms: number, what: string): Promise<T> {
  const ac = new AbortController();
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => {
      ac.abort();
      reject(new KilnError('bmc_timeout', `${what} did not answer within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p(ac.signal), timeout]);
  } finally {
    clearTimeout(t);
  }
}

/**
 * Out-of-band enlistment: lists every system the BMC or hypervisor manages
 * and creates or updates one host per system. A system matches an existing
 * host by any of its MACs (a system without MACs: by name and the same BMC
 * system); a match gets the BMC settings and any new MACs
 * (its boot NIC is kept), a new host gets the system's MACs (first one
 * boots) and firmware. Every host gets `options.systemId` so its driver
 * addresses that one system. Host events record the change; the password is
 * sealed by the inventory and appears nowhere else.
 */
export async function enlistHosts(
  settings: BmcSettings,
  deps: {
    inventory: EnlistInventory;
    registry: PowerDriverRegistry;
    timeoutMs: number;
    actor: string;
    reason: string | null;
  },
): Promise<EnlistResult> {
  const driver = deps.registry.create(settings);
  let systems: SystemSummary[];
  try {
    systems = await withTimeout(
      (signal) => enlistSystems(driver, { signal }),
      deps.timeoutMs,
      `${settings.driver} ${settings.address}`,
    );
  } finally {
    await driver.close();
  }
  const ctx = { actor: deps.actor, reason: deps.reason ?? `enlisted from ${settings.driver} ${settings.address}` };
  const result: EnlistResult = { created: [], updated: [] };
  for (const s of systems) {
    const macs = s.macs.map((m) => parseMac(m)).filter((m): m is Mac => m !== null);
    const bmc: BmcInput = {
      driver: settings.driver,
      address: settings.address,
      username: settings.username ?? null,
      ...(settings.password !== undefined ? { password: settings.password } : {}),
      options: { ...(settings.options ?? {}), systemId: s.systemId },
    };
    let existing: Host | null = null;
    for (const m of macs) {
      existing = await deps.inventory.findHostByMac(m);
      if (existing) break;
    }
    if (!existing && macs.length === 0)
      existing = await sameSystem(deps.inventory, hostNameFor(s), settings.address, s.systemId);
    if (existing) {
      const have = new Set(existing.nics.map((n) => n.mac));
      const nics: Nic[] = [
        ...existing.nics,
        ...macs.filter((m) => !have.has(m)).map((mac) => ({ mac, name: null, boot: false })),
      ];
      const h = await deps.inventory.updateHost(
        existing.id,
        {
          bmc,
          nics,
          ...(existing.firmware === null && s.firmware ? { firmware: s.firmware } : {}),
        },
        ctx,
      );
      result.updated.push({ id: h.id, name: h.name, systemId: s.systemId, macs });
    } else {
      const h = await deps.inventory.createHost(
        {
          name: await freeName(deps.inventory, hostNameFor(s)),
          bmc,
          nics: macs.map((mac, i) => ({ mac, name: null, boot: i === 0 })),
          firmware: s.firmware ?? null,
        },
        ctx,
      );
      result.created.push({ id: h.id, name: h.name, systemId: s.systemId, macs });
    }
  }
  return result;
}
