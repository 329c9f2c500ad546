import ipaddr from 'ipaddr.js';
import type { NewEvent } from '../event/event.js';
import { parseMac, type Mac } from '../net/mac.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { AdmissionQuota } from '../ratelimit/shared-limits.js';

/**
 * Who may become a host, and who may fetch a host's boot script or enrol as
 * it: decided here, once, for DHCP, HTTP boot and the node API alike.
 *
 *  - `auto`: every unknown MAC that network-boots becomes a `new` host (the default).
 *  - `allow-list`: only MACs, OUIs (first three octets) or addresses in subnets listed in `discovery-allow`.
 *  - `off`: unknown MACs get nothing (no DHCP reply, no script, no enrolment); hosts are added by an operator.
 *
 * In every mode at most `discovery-limit` unknown MACs per subnet per minute
 * become hosts; past it they are refused until the minute is over (firmware
 * retries, so a storm bigger than the bound is delayed, not lost). With
 * several controllers on one PostgreSQL store the bound is shared (`quota`,
 * src/ratelimit): it holds in total, not per controller.
 *
 * A per-host script or an enrolment for a MAC is answered only to the address
 * Kiln's DHCP leased to that MAC ("initial config only for systems Kiln has
 * DHCP-booted"), or to an address in `boot-source-ranges` (relays that NAT,
 * HTTP proxies). On a subnet in proxy mode Kiln leases nothing, so the
 * subnet's declared CIDR is the range. With Kiln's DHCP off there is no lease
 * to bind to and the check does not apply (use `discovery: off` or
 * `allow-list` there).
 */
export const discoveryModes = ['auto', 'allow-list', 'off'] as const;
export type DiscoveryMode = (typeof discoveryModes)[number];

export interface DiscoverySettings {
  mode: DiscoveryMode;
  /** MACs, OUIs and CIDRs (subnets flagged for discovery), as written in `discovery-allow`. */
  allow: readonly string[];
  /** Unknown MACs that may become hosts per subnet per minute. */
  perSubnetPerMinute: number;
  /** CIDRs whose per-host requests are not bound to a lease (NAT relays, HTTP proxies). */
  bootSourceRanges: readonly string[];
}

/** A subnet Kiln's DHCP serves (empty list: Kiln's DHCP is off). */
export interface ServedSubnet {
  cidr: string;
  mode: string;
}

/**
 * The answer: go on, or refuse with a code and a reason that says what to change. `pending`: refused only for now,
 * while this controller claims admissions from the shared store (`admitUnknownSettled` waits for the claim).
 */
export type Admission =
  { ok: true } | { ok: false; code: 'discovery_refused' | 'rate_limited'; reason: string; pending?: boolean };

export interface DiscoveryPolicyDeps {
  settings: DiscoverySettings;
  subnets: readonly ServedSubnet[];
  /** The MAC holding a bound lease on an address, from Kiln's DHCP lease table. */
  leaseOwner: (ip: string) => Promise<Mac | null>;
  /** Writes an event (refusals; at most one per kind and key per minute). */
  record: (e: NewEvent) => Promise<void>;
  log?: Logger;
  now?: () => number;
  /**
   * The per-subnet bound shared by every controller of a PostgreSQL store (src/ratelimit); without it (SQLite:
   * one controller) the bound is counted in memory.
   */
  quota?: AdmissionQuota;
}

const WINDOW_MS = 60_000;
const MAX_KEYS = 100_000;
/** Claims an HTTP or node admission waits through before it answers "retry" (each is one store transaction). */
const SETTLE_TRIES = 50;

type Entry =
  | { kind: 'mac'; mac: string }
  | { kind: 'oui'; oui: string }
  | { kind: 'cidr'; range: [ipaddr.IPv4 | ipaddr.IPv6, number] };

/** Splits a list setting: commas or white space. */
export function splitList(text: string | undefined): string[] {
  return (text ?? '').split(/[\s,]+/).filter(Boolean);
}

function parseEntry(e: string): Entry | null {
  if (e.includes('/')) {
    try {
      return { kind: 'cidr', range: ipaddr.parseCIDR(e) };
    } catch {
      return null;
    }
  }
  const mac = parseMac(e);
  if (mac) return { kind: 'mac', mac };
  const bare = e.toLowerCase().replace(/[:\-.]/g, '');
  return /^[0-9a-f]{6}$/.test(bare) ? { kind: 'oui', oui: bare.match(/../g)!.join(':') } : null;
}

/** Setting check for `discovery-allow`: the first entry that is not a MAC, an OUI or a CIDR. */
export function checkAllowList(text: string): string | null {
  const bad = splitList(text).find((e) => !parseEntry(e));
  return bad === undefined
    ? null
    : `"${bad}" is not a MAC (52:54:00:12:34:56), an OUI (52:54:00) or a CIDR (10.0.0.0/24)`;
}

/** Setting check for `boot-source-ranges`: the first entry that is not a CIDR. */
export function checkCidrList(text: string): string | null {
  const bad = splitList(text).find((e) => parseEntry(e)?.kind !== 'cidr');
  return bad === undefined ? null : `"${bad}" is not a CIDR such as 10.0.0.0/24 or 10.0.0.5/32`;
}

/** An address as ipaddr.js reads it, IPv4-mapped IPv6 as IPv4; null when not an address. */
function addr(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    return ipaddr.process(ip);
  } catch {
    return null;
  }
}

function inRange(ip: string, range: [ipaddr.IPv4 | ipaddr.IPv6, number]): boolean {
  const a = addr(ip);
  return !!a && a.kind() === range[0].kind() && a.match(range);
}

/** The key an address is counted under when no served subnet holds it: its /24 (IPv4) or /64 (IPv6). */
function fallbackSubnet(ip: string): string {
  const a = addr(ip);
  if (!a) return 'unknown';
  if (a.kind() === 'ipv4') return `${(a as ipaddr.IPv4).octets.slice(0, 3).join('.')}.0/24`;
  return `${(a as ipaddr.IPv6).parts
    .slice(0, 4)
    .map((p) => p.toString(16))
    .join(':')}::/64`;
}

function listedIn(
  allow: readonly Entry[],
  mac: Mac,
  where: { subnet?: string | undefined; ip?: string | undefined },
): boolean {
  const net = where.subnet ? where.subnet.split('/')[0] : undefined;
  return allow.some((e) =>
    e.kind === 'mac'
      ? e.mac === mac
      : e.kind === 'oui'
        ? mac.startsWith(e.oui)
        : (where.ip !== undefined && inRange(where.ip, e.range)) || (net !== undefined && inRange(net, e.range)),
  );
}

/**
 * The part of `admitUnknown` that depends on the settings alone (mode and
 * allow list, no counting): true when the MAC may become a host as far as
 * `discovery` and `discovery-allow` go. The DHCP worker thread asks it for
 * every unknown MAC, without a round trip to the main thread.
 */
export function staticAdmission(
  settings: Pick<DiscoverySettings, 'mode' | 'allow'>,
): (mac: Mac, where: { subnet?: string | undefined; ip?: string | undefined }) => boolean {
  const allow = settings.allow.map((e) => parseEntry(e)).filter((e): e is Entry => e !== null);
  return (mac, where) => settings.mode === 'auto' || (settings.mode === 'allow-list' && listedIn(allow, mac, where));
}

/** Decides discovery and boot-source questions; one instance per controller. */
export function createDiscoveryPolicy(deps: DiscoveryPolicyDeps) {
  const { settings } = deps;
  const log = deps.log ?? silentLogger;
  const now = deps.now ?? Date.now;
  const sources = settings.bootSourceRanges
    .map((e) => parseEntry(e))
    .filter((e): e is Extract<Entry, { kind: 'cidr' }> => e?.kind === 'cidr');
  const served = deps.subnets.map((s) => ({ ...s, range: ipaddr.parseCIDR(s.cidr) }));
  /** Unknown hosts admitted per subnet in the current window. */
  const counts = new Map<string, { start: number; n: number }>();
  /** MACs admitted in the last window: a client's retransmissions (DHCP REQUEST after DISCOVER, a retried fetch) count once. */
  const admitted = new Map<string, number>();
  /** Refusals recorded (event and log line) in the current window, per kind and key. */
  const noted = new Map<string, number>();

  const bounded = <V>(m: Map<string, V>, key: string, v: V) => {
    if (!m.has(key) && m.size >= MAX_KEYS) m.delete(m.keys().next().value!);
    m.set(key, v);
  };

  /** Records a refusal: a log line and an event at most once per window for `key`; later ones in the window at debug. */
  function note(key: string, event: NewEvent, fields: Record<string, unknown>): void {
    const t = now();
    const last = noted.get(key);
    if (last !== undefined && t - last < WINDOW_MS) {
      log.debug(fields, event.message);
      return;
    }
    bounded(noted, key, t);
    log.warn(fields, `${event.message} (recorded at most once a minute)`);
    deps
      .record(event)
      .catch((err) => log.warn({ err: (err as Error).message }, 'could not record a discovery refusal'));
  }

  /** Parsed source addresses (every script fetch asks; the settings do not change while it runs). */
  const parsedSources = new Map<string, { ip: string; inSources: boolean }>();
  function sourceOf(source: string): { ip: string; inSources: boolean } {
    let p = parsedSources.get(source);
    if (!p) {
      // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; leases are keyed by the IPv4 text.
      const ip = addr(source)?.toString() ?? source;
      p = { ip, inSources: sources.some((s) => inRange(ip, s.range)) };
      bounded(parsedSources, source, p);
    }
    return p;
  }

  function subnetOf(ip: string): (ServedSubnet & { range: [ipaddr.IPv4 | ipaddr.IPv6, number] }) | undefined {
    return served.find((s) => inRange(ip, s.range));
  }

  const admits = staticAdmission(settings);

  /** The subnet an admission counts under: the DHCP subnet, the served subnet of the address, or its /24 or /64. */
  const subnetKey = (where: { subnet?: string | undefined; ip?: string | undefined }): string =>
    where.subnet ?? (where.ip !== undefined ? (subnetOf(where.ip)?.cidr ?? fallbackSubnet(where.ip)) : 'unknown');

  const policy = {
    settings,

    /**
     * May this unknown MAC become a host? `subnet` is the DHCP subnet the
     * request arrived for; `ip` the source of an HTTP or node request. An
     * admission counts toward the subnet's bound once per MAC per minute.
     */
    admitUnknown(
      mac: Mac,
      where: { via: 'dhcp' | 'http' | 'node'; subnet?: string | undefined; ip?: string | undefined },
    ): Admission {
      const t = now();
      const seen = admitted.get(mac);
      if (seen !== undefined && t - seen < WINDOW_MS) return { ok: true };
      const subnet = subnetKey(where);
      const fields = { mac, via: where.via, subnet, ip: where.ip };
      if (!admits(mac, where)) {
        const reason =
          settings.mode === 'off'
            ? `unknown MAC ${mac} refused: discovery is off (add the host with \`kiln host add\`, or set discovery: auto or allow-list)`
            : `unknown MAC ${mac} refused: not in discovery-allow (list the MAC, its OUI or its subnet there, or add the host with \`kiln host add\`)`;
        note(
          `refused ${subnet}`,
          {
            actor: `${where.via}@${where.ip ?? subnet}`,
            kind: 'discovery.refused',
            message: `${reason}; on subnet ${subnet}`,
            data: fields,
          },
          fields,
        );
        return { ok: false, code: 'discovery_refused', reason };
      }
      let wait = 0;
      if (deps.quota) {
        const q = deps.quota.take(subnet);
        if (!q.ok && q.pending)
          return {
            ok: false,
            code: 'rate_limited',
            reason: `unknown MAC ${mac} refused for now: this controller is claiming discovery admissions for subnet ${subnet} from the shared store; retry in ${q.retryInSeconds} s`,
            pending: true,
          };
        if (!q.ok) wait = q.retryInSeconds;
      } else {
        let c = counts.get(subnet);
        if (!c || t - c.start >= WINDOW_MS) {
          c = { start: t, n: 0 };
          bounded(counts, subnet, c);
        }
        if (c.n >= settings.perSubnetPerMinute) wait = Math.max(1, Math.ceil((c.start + WINDOW_MS - t) / 1000));
        else c.n++;
      }
      if (wait > 0) {
        const across = deps.quota ? ', counted across every controller of the store' : '';
        const reason = `unknown MAC ${mac} refused: ${settings.perSubnetPerMinute} new hosts on subnet ${subnet} this minute already (setting discovery-limit${across}); retry in ${wait} s`;
        note(
          `limit ${subnet}`,
          {
            actor: `${where.via}@${where.ip ?? subnet}`,
            kind: 'discovery.rate_limited',
            message: `more than ${settings.perSubnetPerMinute} unknown MACs on subnet ${subnet} within a minute (setting discovery-limit); the rest wait for the next minute`,
            data: fields,
          },
          fields,
        );
        return { ok: false, code: 'rate_limited', reason };
      }
      admitted.delete(mac); // re-inserted last: the map stays in time order, so the first key is the oldest
      bounded(admitted, mac, t);
      return { ok: true };
    },

    /**
     * Gives back one admission of the subnet: the unknown MAC it admitted became a host through another request
     * (a second controller answering the same broadcast created it first), so it counts once, for its creator.
     */
    returnAdmission(where: { subnet?: string | undefined; ip?: string | undefined }): void {
      const subnet = subnetKey(where);
      if (deps.quota) return deps.quota.giveBack(subnet);
      const c = counts.get(subnet);
      if (c && c.n > 0 && now() - c.start < WINDOW_MS) c.n--;
    },

    /**
     * `admitUnknown`, waiting for this controller's claims of shared admissions while the answer is "not now"
     * (HTTP and node requests can wait; DHCP does not, its client retransmits). Each claim either grants room or
     * finds the minute full, so this ends; it is bounded all the same.
     */
    async admitUnknownSettled(
      mac: Mac,
      where: { via: 'dhcp' | 'http' | 'node'; subnet?: string | undefined; ip?: string | undefined },
    ): Promise<Admission> {
      let a = policy.admitUnknown(mac, where);
      for (let i = 0; i < SETTLE_TRIES && !a.ok && a.pending === true && deps.quota; i++) {
        await deps.quota.settled(subnetKey(where));
        a = policy.admitUnknown(mac, where);
      }
      return a;
    },

    /**
     * May `ip` fetch the per-host script of `mac`, or enrol as it? Yes when
     * Kiln's DHCP leased `ip` to `mac` or to another NIC of the same known host
     * (UEFI iPXE tries every NIC: after the script on the first one sends the
     * machine to its disk, the second NIC's request names the first one's MAC),
     * when `ip` is in boot-source-ranges or
     * in a proxy-mode subnet, or when Kiln's DHCP is off. A refusal is logged
     * and recorded (once a minute per MAC and address).
     */
    async checkSource(
      mac: Mac,
      source: string,
      via: 'http' | 'node',
      host: { id: string; name: string; nics?: ReadonlyArray<{ mac: string }> } | null,
    ): Promise<Admission> {
      if (served.length === 0) return { ok: true };
      const { ip, inSources } = sourceOf(source);
      if (inSources) return { ok: true };
      const s = subnetOf(ip);
      if (s?.mode === 'proxy') return { ok: true };
      let reason: string;
      if (!s || s.mode === 'off') {
        reason = `${ip} is in no subnet Kiln's DHCP serves; a ${via === 'http' ? 'boot script' : 'enrolment'} for ${mac} is answered only to the address Kiln leased to it (declare relays and proxies in boot-source-ranges)`;
      } else {
        const owner = await deps.leaseOwner(ip);
        if (owner === mac) return { ok: true };
        if (owner && host?.nics?.some((n) => n.mac === owner)) return { ok: true };
        reason = `${ip} is ${owner ? `leased to ${owner}` : 'not leased by Kiln'}, not to ${mac}; a ${via === 'http' ? 'boot script' : 'enrolment'} is answered only to the address Kiln leased to that MAC`;
      }
      const fields = { mac, ip, via, host: host?.name };
      note(
        `source ${mac} ${ip}`,
        {
          actor: `${via}@${ip}`,
          kind: 'boot.source_refused',
          hostId: host?.id ?? null,
          subject: host?.name ?? null,
          message: reason,
          data: { mac, ip, via },
        },
        fields,
      );
      return { ok: false, code: 'discovery_refused', reason };
    },
  };
  return policy;
}

/** The discovery policy's type. */
export type DiscoveryPolicy = ReturnType<typeof createDiscoveryPolicy>;

/** The policy of a controller that decides nothing: `auto`, no bound worth the name, DHCP off (tests and tools). */
export function openDiscoveryPolicy(): DiscoveryPolicy {
  return createDiscoveryPolicy({
    settings: { mode: 'auto', allow: [], perSubnetPerMinute: Number.MAX_SAFE_INTEGER, bootSourceRanges: [] },
    subnets: [],
    leaseOwner: async () => null,
    record: async () => {},
  });
}
