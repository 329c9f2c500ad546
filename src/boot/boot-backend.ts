import { isConflict, KilnError } from '../error/kiln-error.js';
import type { NewEvent } from '../event/event.js';
import { createEventBatch } from '../event/event-batch.js';
import type { Host } from '../inventory/host.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import type { Mac } from '../net/mac.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { openDiscoveryPolicy, type Admission, type DiscoveryPolicy } from './discovery-policy.js';

/**
 * What the per-host script needs of a deploying host's deployment: no install
 * files (they can be megabytes). The deploy service's current deployment, by shape.
 */
export interface BootDeployment {
  id: string;
  profile: string;
  /** The installer to boot, frozen at deploy time; URLs with the install token placeholder until `fillInstallToken`. */
  bootSpec: { kernel: string; initrd: string[]; cmdline: string };
  /** `installed` or `complete`: the next boot goes to the local disk (not for a stateless deployment). */
  status: string;
  /** A stateless image: every boot, deploying or deployed, runs the boot spec (docs/stateless.md). */
  stateless?: boolean;
}

/** Where an unknown MAC network-booted: a DHCP request for a subnet, or an HTTP script fetch from an address. */
export type BootOrigin = { via: 'dhcp'; subnet: string } | { via: 'http'; ip: string; firmware: 'uefi' | 'bios' };

/** An unknown MAC refused by the discovery policy, or admitted with its host on the way (created, or found when a parallel request created it). */
export type Enrolment = Extract<Admission, { ok: false }> | { ok: true; host: Promise<Host> };

/**
 * What the boot servers (DHCP, HTTP boot) ask of the rest of Kiln: the host
 * behind a MAC, the one creation path for unknown MACs (the discovery policy
 * decides), the deployment a deploying host boots, and the few writes a boot
 * makes. Never the database.
 */
export interface BootBackend {
  /** The host with a NIC of this MAC, null when unknown. Called on every DHCP request and script fetch. */
  hostByMac(mac: Mac): Promise<Host | null>;
  /** Admits (discovery policy) and creates a `new` host for an unknown MAC; concurrent calls for one MAC share one creation. */
  enrolUnknown(mac: Mac, origin: BootOrigin): Enrolment;
  /** May `ip` fetch the per-host script of `mac` (the policy's source check; refusals are recorded by the policy)? */
  checkSource(mac: Mac, ip: string, host: Host | null): Promise<Admission>;
  /** Moves a `new` host to `discovering` as it boots the discovery image. */
  beginDiscovery(host: Host, actor: string): Promise<Host>;
  /** The deployment a `deploying` host boots (install token placeholder in its boot spec); null when the host has none. */
  bootDeployment(hostId: string): Promise<BootDeployment | null>;
  /** `d` with its install token in the boot spec (an HMAC: called when a script is rendered, not on every fetch). */
  fillInstallToken(d: BootDeployment): BootDeployment;
  /** Writes one audit event (a socket re-opened) before it resolves. */
  recordEvent(e: NewEvent): Promise<void>;
  /** Queues an observation event (a boot stage served): written with others by group commit, never awaited by an answer. */
  noteEvent(e: NewEvent): void;
  /** Resolves when every noted event is written (close, tests). */
  flushEvents(): Promise<void>;
}

export interface BootBackendDeps {
  inventory: InventoryService;
  /** Which unknown MACs become hosts and from where scripts are answered (default: everyone, anywhere). */
  discovery?: DiscoveryPolicy;
  /** The deploy domain's boot view of a host's current deployment (install token placeholder in its boot spec). */
  bootDeployment: (hostId: string) => Promise<BootDeployment | null>;
  /** Puts the install token into a deployment's boot spec; default: leaves it as it is (no install tokens). */
  fillInstallToken?: (d: BootDeployment) => BootDeployment;
  log?: Logger;
}

const actorOf = (o: BootOrigin): string => (o.via === 'dhcp' ? 'dhcp' : `boot@${o.ip}`);

/** The boot backend over the inventory, the discovery policy and the deploy service. */
export function createBootBackend(deps: BootBackendDeps): BootBackend {
  const { inventory } = deps;
  const log = deps.log ?? silentLogger;
  const discovery = deps.discovery ?? openDiscoveryPolicy();
  // MACs whose host is being created: a client's retransmissions (a DHCP REQUEST after its DISCOVER, a retried fetch) add no second attempt.
  const creating = new Map<Mac, Promise<Host>>();
  const observed = createEventBatch({ write: (batch) => inventory.recordEvents(batch), log });

  async function create(mac: Mac, origin: BootOrigin): Promise<Host> {
    try {
      const host = await inventory.createHost(
        {
          name: `node-${mac.replace(/:/g, '')}`,
          nics: [{ mac, name: null, boot: true }],
          ...(origin.via === 'http' ? { firmware: origin.firmware } : {}),
        },
        {
          actor: actorOf(origin),
          reason:
            origin.via === 'dhcp' ? `unknown MAC network-booted on ${origin.subnet}` : 'unknown MAC network-booted',
        },
      );
      log.info(
        { mac, host: host.name, ...(origin.via === 'http' ? { ip: origin.ip } : {}) },
        'unknown MAC network-booted: host created',
      );
      return host;
    } catch (err) {
      // Another request (DHCP, a parallel fetch, another controller answering the same broadcast) created it
      // meanwhile: this admission made no host, so it goes back to the bound (the creator's is the one counted).
      const host = isConflict(err) ? await inventory.findHostByMac(mac) : null;
      if (!host) throw err;
      discovery.returnAdmission(origin.via === 'dhcp' ? { subnet: origin.subnet } : { ip: origin.ip });
      return host;
    }
  }

  return {
    hostByMac: (mac) => inventory.findHostByMac(mac),

    enrolUnknown(mac, origin) {
      const pending = creating.get(mac);
      if (pending) return { ok: true, host: pending };
      const where =
        origin.via === 'dhcp'
          ? { via: 'dhcp' as const, subnet: origin.subnet }
          : { via: 'http' as const, ip: origin.ip };
      const admitted = discovery.admitUnknown(mac, where);
      // Refused only for now (this controller is claiming shared admissions from the store): the enrolment waits
      // for the claim, an HTTP request is answered then, and DHCP answers now, as for any MAC not refused (its
      // reply never waits for the host). A DHCP refusal "for now" used to be a refusal: the DHCP thread dropped the
      // client's next retransmission too, and a firmware whose last REQUEST that was lost its whole boot (after a
      // member's death every unknown MAC of its clients reached one member at once, docs/cluster.md).
      const waits = !admitted.ok && admitted.pending === true;
      if (!admitted.ok && !waits) return admitted;
      const host = (
        waits
          ? discovery.admitUnknownSettled(mac, where).then((a) => {
              if (!a.ok) throw new KilnError(a.code, a.reason);
              return create(mac, origin);
            })
          : create(mac, origin)
      ).finally(() => creating.delete(mac));
      creating.set(mac, host);
      return { ok: true, host };
    },

    checkSource: (mac, ip, host) => discovery.checkSource(mac, ip, 'http', host),

    beginDiscovery: (host, actor) =>
      inventory.transition(host.id, 'discovering', { actor, reason: 'booting the discovery image' }),

    bootDeployment: (hostId) => deps.bootDeployment(hostId),

    fillInstallToken: (d) => (deps.fillInstallToken ? deps.fillInstallToken(d) : d),

    recordEvent: (e) => inventory.recordEvent(e),

    noteEvent: (e) => observed.add(e),

    flushEvents: () => observed.flush(),
  };
}
