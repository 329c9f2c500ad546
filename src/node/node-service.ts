import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/event-log.js';
import { formatHardwareDiff, hardwareDiff, hardwareHash } from '../inventory/hardware-hash.js';
import type { Host } from '../inventory/host.js';
import type { InventoryOps, InventoryService } from '../inventory/inventory-service.js';
import type { DiscoveryPolicy } from '../boot/discovery-policy.js';
import { parseMac, type Mac } from '../net/mac.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { expandName } from '../rule/match-rule.js';
import type { RuleService } from '../rule/rule-service.js';
import type { DeployService } from '../deploy/deploy-service.js';
import type { Principal } from '../api/role.js';
import { createNodeCredential, hashSecret } from '../trust/credential/node-credential.js';
import { withTransaction } from '../store/transaction.js';
import type { FailureCounter } from '../ratelimit/shared-limits.js';
import { memoryFailures } from './rate-window.js';
import {
  getNodeTrust,
  getNodeTrustByHash,
  markCredentialUsed,
  putNodeTrust,
  recordCompletion,
  recordInstalled,
  replaceUnusedCredential,
  touchNodeTrust,
  type NodeTrust,
} from './sql-node-trust-store.js';
import { decideEnrolRetry, ENROL_RETRY_WINDOW_MS, type EnrolRetryRefusal } from './enrol-retry.js';
import { COMPLETE_REPEAT_WINDOW_MS, isCompleteRepeat, isInstalledRepeat } from './complete-repeat.js';
import { getIdentityRequest, putIdentityRequest } from './sql-identity-request-store.js';
import { factText } from '../inventory/fact-text.js';
import {
  effectiveDiscoveryActions,
  type DiscoveryActions,
  type EffectiveDiscoveryActions,
} from '../selftest/discovery-actions.js';
import type { Rule } from '../rule/rule.js';
import type { SelfTestService } from '../selftest/self-test-service.js';
import type { SelfTestPlan, SelfTestResult } from '../selftest/self-test.js';

/** Where a node call came from: its source address and the MAC it claims (X-Kiln-Mac), if any. */
export interface NodeSource {
  ip: string;
  claimedMac?: Mac | null;
}

export interface NodeServiceDeps {
  db: Kysely<Database>;
  inventory: InventoryService;
  /** The host's deployment, whose status install progress moves (the deploy service). */
  deployments: Pick<DeployService, 'currentDeployment' | 'setDeploymentStatus'>;
  /** The discovery rules applied on a host's first facts. */
  rules: Pick<RuleService, 'selectRule'>;
  log?: Logger;
  now?: () => Date;
  /** Failed credential attempts allowed per source address per minute. */
  failureLimit?: number;
  /** The same limit counted in the store, shared by every controller of a PostgreSQL store (src/ratelimit). */
  sharedFailures?: FailureCounter;
  /** The MAC holding a DHCP lease on `ip` (from the DHCP server), so a node on another host's address is refused. */
  leaseOwner?: (ip: string) => Promise<Mac | null>;
  /** Who may enrol: unknown MACs, and only from the address Kiln leased to the MAC (default: admits everyone). */
  discovery?: DiscoveryPolicy;
  /** Self-test runs (src/selftest); without it a rule's `selfTests` are ignored and hosts go straight to ready. */
  selfTests?: Pick<SelfTestService, 'startDiscoveryRun' | 'pendingPlan' | 'report'>;
  /** A profile's discovery defaults (`discovery:` in profile.yaml); a rule's own settings override them. */
  profileDiscovery?: (profile: string) => DiscoveryActions | undefined;
  /** Powers a host off through its BMC (a rule's `afterDiscovery: poweroff`); without it the agent powers itself off. */
  powerOff?: (host: Host, reason: string) => Promise<void>;
}

/** What the agent does once its host is ready: keep polling `next`, or power itself off (no BMC to do it). */
export type AfterDiscovery = 'wait' | 'poweroff';

/** A discovery report's answer: the host, its credential on enrolment, and the agent's next step. */
export interface DiscoverAnswer {
  hostId: string;
  name: string;
  credential?: string;
  /** Tests to run now and report (POST /node/self-tests); `then` comes with that report's answer. */
  selfTests?: SelfTestPlan;
  then?: AfterDiscovery;
}

/** A node's answer to an identity request or claim: still waiting, or the credential (returned once). */
export type IdentityAnswer =
  | { status: 'pending'; hostId: string; name: string; code: string }
  | { status: 'approved'; hostId: string; name: string; code: string; credential: string };

/**
 * The code a node shows for its identity request, from the SHA-256 of its
 * request secret (`sha256:<hex>`): the first 8 hex digits, upper case, as
 * XXXX-XXXX. The node computes the same with sha256sum (node/agent/stateless.sh).
 */
export const identityCode = (hash: string): string => {
  const hex = hash.replace(/^sha256:/, '').toUpperCase();
  return `${hex.slice(0, 4)}-${hex.slice(4, 8)}`;
};

/** Most NICs a host has (the API's limit on `nics`). */
const MAX_NICS = 64;

/** How often a node's last-seen time in its trust row is refreshed while its address stays the same. */
const TOUCH_EVERY_MS = 300_000;

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** Node-facing operations: enrolment, credential checks, facts, install progress. Every refusal is an event. */
export function createNodeService(deps: NodeServiceDeps) {
  const { db, inventory } = deps;
  const log = deps.log ?? silentLogger;
  const now = () => (deps.now ?? (() => new Date()))();
  // Counted in the store when several controllers share it (the limit holds in total); in memory otherwise.
  const failures: FailureCounter =
    deps.sharedFailures ?? memoryFailures(deps.failureLimit ?? 20, () => now().getTime());

  async function refuse(
    kind: string,
    message: string,
    source: NodeSource,
    host: Host | null,
    code: 'credential_invalid' | 'enrolment_closed',
    extra: Record<string, unknown> = {},
  ): Promise<never> {
    await failures.fail(source.ip);
    await appendEvent(
      db,
      {
        actor: `node@${source.ip}`,
        kind,
        hostId: host?.id ?? null,
        subject: host?.name ?? null,
        message,
        data: { ip: source.ip, claimedMac: source.claimedMac ?? null, ...extra },
      },
      now().toISOString(),
    );
    log.warn({ ip: source.ip, host: host?.name, kind }, message);
    throw new KilnError(code, message);
  }

  async function checkRate(source: NodeSource): Promise<void> {
    const wait = await failures.blocked(source.ip);
    if (wait > 0)
      throw new KilnError(
        'rate_limited',
        `too many failed node credential attempts from ${source.ip}; retry in ${wait} s`,
        { details: { retryAfter: wait } },
      );
  }

  /**
   * Issues a credential inside the caller's transaction `trx` (the trust row and its event commit with the rest).
   * `enrolSecretHash`: the hashed enrolment secret of the discovery report it answers, kept so that a retry of
   * that report may replace the credential while it is unused (enrol-retry.ts); null for every other issue.
   */
  async function issueIn(
    trx: Kysely<Database>,
    host: Host,
    reason: string,
    source: NodeSource,
    enrolSecretHash: string | null = null,
  ): Promise<string> {
    const { secret, hash } = createNodeCredential();
    const at = now().toISOString();
    const t = await getNodeTrust(trx, host.id);
    await putNodeTrust(trx, {
      ...t,
      credentialHash: hash,
      issuedAt: at,
      revokedAt: null,
      armed: false,
      armedReason: null,
      lastIp: source.ip,
      lastSeenAt: at,
      enrolSecretHash,
      enrolUntil: enrolSecretHash ? new Date(now().getTime() + ENROL_RETRY_WINDOW_MS).toISOString() : null,
    });
    await appendEvent(
      trx,
      {
        actor: `node:${host.name}`,
        kind: 'node.enrolled',
        hostId: host.id,
        subject: host.name,
        message: `node credential issued to ${host.name} (${reason})`,
        data: { ip: source.ip },
      },
      at,
    );
    return secret;
  }

  /**
   * Answers a retried enrolling report inside `trx` (enrol-retry.ts decided it is one): replaces the unused
   * credential with a fresh one (the old one stops working) and records `node.enrol_retried`. Null when the
   * credential changed or was used meanwhile (the conditional write found it so).
   */
  async function reissueIn(
    trx: Kysely<Database>,
    host: Host,
    trust: NodeTrust,
    source: NodeSource,
    what = 'enrolling discovery report',
  ) {
    const { secret, hash } = createNodeCredential();
    const at = now().toISOString();
    const replaced = await replaceUnusedCredential(trx, {
      hostId: host.id,
      oldHash: trust.credentialHash ?? '',
      enrolSecretHash: trust.enrolSecretHash ?? '',
      newHash: hash,
      at,
      ip: source.ip,
    });
    if (!replaced) return null;
    await appendEvent(
      trx,
      {
        actor: `node:${host.name}`,
        kind: 'node.enrol_retried',
        hostId: host.id,
        subject: host.name,
        message: `${host.name} repeated its ${what} (same enrolment secret, credential never used; its first answer was lost): a fresh credential replaces the unused one`,
        data: { ip: source.ip, previousIp: trust.lastIp },
      },
      at,
    );
    log.info({ host: host.name, ip: source.ip }, `${what} retried; credential replaced`);
    return secret;
  }

  /** Refuses (and records) an enrolment the discovery policy does not allow: unknown MAC, or a source address Kiln did not lease to the MAC. */
  async function admitEnrolment(mac: Mac, source: NodeSource, host: Host | null): Promise<void> {
    if (!deps.discovery) return;
    const bySource = await deps.discovery.checkSource(mac, source.ip, 'node', host);
    const a =
      bySource.ok && !host ? await deps.discovery.admitUnknownSettled(mac, { via: 'node', ip: source.ip }) : bySource;
    if (!a.ok) {
      await failures.fail(source.ip);
      throw new KilnError(a.code, a.reason);
    }
  }

  function bootMacOf(facts: Record<string, unknown>): Mac {
    const direct = parseMac(factText(facts['bootMac']));
    const nic = Array.isArray(facts['nics']) ? parseMac(factText(obj(facts['nics'][0])['mac'])) : null;
    const mac = direct ?? nic;
    if (!mac)
      throw new KilnError('validation_failed', 'facts must carry bootMac (or nics[0].mac) as a MAC address', {
        issues: [{ path: '/facts/bootMac', code: 'bad_mac', message: 'missing or not a MAC' }],
      });
    return mac;
  }

  function nicsOf(facts: Record<string, unknown>, bootMac: Mac) {
    const list = Array.isArray(facts['nics']) ? facts['nics'].map(obj) : [];
    const nics = list.flatMap((n) => {
      const m = parseMac(factText(n['mac']));
      return m ? [{ mac: m, name: n['name'] ? factText(n['name']) : null, boot: m === bootMac }] : [];
    });
    return nics.some((n) => n.boot) ? nics : [{ mac: bootMac, name: null, boot: true }, ...nics];
  }

  /**
   * Attaches to `host` the NICs a report lists that no host has yet. A host
   * that Kiln's DHCP created knows only the NIC it booted from, but firmware
   * may network-boot from any NIC (UEFI walks every one after the first sends
   * the machine to its disk): a NIC left out becomes a host of its own at its
   * first DHCP request, and the boot-source check refuses the host's script
   * to that NIC's address. A MAC another host already has stays with it.
   */
  async function attachNics(inv: InventoryOps, host: Host, facts: Record<string, unknown>): Promise<Host> {
    const have = new Set(host.nics.map((n) => n.mac));
    const added: Host['nics'] = [];
    for (const n of nicsOf(facts, bootMacOf(facts))) {
      if (have.has(n.mac) || have.size >= MAX_NICS) continue;
      if (await inv.findHostByMac(n.mac)) continue;
      have.add(n.mac);
      added.push({ mac: n.mac, name: n.name, boot: false });
    }
    if (added.length === 0) return host;
    return inv.updateHost(
      host.id,
      { nics: [...host.nics, ...added] },
      {
        actor: `node:${host.name}`,
        reason: `discovery reported NIC${added.length > 1 ? 's' : ''} ${added.map((n) => n.mac).join(', ')}, not yet attached to a host`,
      },
    );
  }

  /** Applies the first matching rule on a host's first facts: name, profile, tags. */
  async function applyRules(
    inv: InventoryOps,
    host: Host,
    facts: Record<string, unknown>,
    rule: Rule | null,
  ): Promise<Host> {
    if (!rule) return host;
    const name = rule.assign.name ? expandName(rule.assign.name, facts) : undefined;
    const updated = await inv.updateHost(
      host.id,
      {
        name,
        profile: rule.assign.profile,
        tags: rule.assign.tags ? [...new Set([...host.tags, ...rule.assign.tags])] : undefined,
      },
      { actor: 'system', reason: `rule ${rule.name}` },
    );
    return updated;
  }

  /**
   * Hashes `facts` with discovery's hardware hash and, when it differs from
   * the stored one, records `host.hardware_changed` with the side-by-side
   * diff (discovery reports and the heartbeat's re-audit alike). Returns the
   * hash and the fields a report stores with the facts.
   */
  async function compareHardware(inv: InventoryOps, host: Host, facts: Record<string, unknown>) {
    const hash = hardwareHash(facts);
    const changed = !!host.hardwareHash && host.hardwareHash !== hash;
    if (changed) {
      const diff = hardwareDiff(host.facts, facts);
      await inv.recordEvent({
        actor: `node:${host.name}`,
        kind: 'host.hardware_changed',
        hostId: host.id,
        subject: host.name,
        message: `hardware of ${host.name} changed (${host.hardwareHash} → ${hash}):\n${formatHardwareDiff(diff)}`,
        before: { hardwareHash: host.hardwareHash },
        after: { hardwareHash: hash },
        data: { diff },
      });
    }
    const firmware = facts['firmware'] === 'uefi' || facts['firmware'] === 'bios' ? facts['firmware'] : host.firmware;
    return {
      hash,
      changed,
      extra: { facts, hardwareHash: hash, needsAttention: host.needsAttention || changed, firmware },
    };
  }

  /**
   * Stores a discovery report inside the caller's transaction: records a diff
   * when the hardware hash changes, moves new/discovering hosts to ready, and
   * applies rules on the first facts.
   */
  async function report(
    inv: InventoryOps,
    trx: Kysely<Database>,
    start: Host,
    facts: Record<string, unknown>,
    credential: string | undefined,
  ): Promise<DiscoverAnswer & { bmcOff?: { host: Host; reason: string } }> {
    let host = await attachNics(inv, start, facts);
    const firstFacts = Object.keys(host.facts).length === 0;
    const rule = await deps.rules.selectRule(facts, trx);
    const { extra } = await compareHardware(inv, host, facts);
    const actor = `node:${host.name}`;
    const discovering = host.state === 'new' || host.state === 'discovering';
    const wasNew = host.state === 'new';
    if (wasNew)
      host = await inv.transition(host.id, 'discovering', { actor, reason: 'discovery image reported', extra });
    // Self-tests (the rule's, else its profile's) hold the host in discovering until the agent reports them (POST /node/self-tests).
    const actions = actionsFor(rule, rule?.assign.profile ?? host.profile);
    const plan =
      deps.selfTests && discovering && actions.testsBy !== null
        ? await deps.selfTests.startDiscoveryRun(trx, host, {
            by: actions.testsBy,
            tests: actions.tests,
            options: actions.options,
          })
        : ((await deps.selfTests?.pendingPlan(host.id, trx)) ?? null);
    if (host.state === 'discovering' && !(plan && discovering))
      host = await inv.transition(host.id, 'ready', { actor, reason: 'facts received', extra });
    else if (!wasNew) host = await inv.recordFacts(host.id, extra, actor);
    if (firstFacts) host = await applyRules(inv, host, facts, rule);
    const base = { hostId: host.id, name: host.name, ...(credential ? { credential } : {}) };
    if (plan) return { ...base, selfTests: plan };
    return { ...base, ...afterDiscovery(host, actions) };
  }

  /** The discovery actions of `rule` over those of the profile named `profile` (discovery-actions.ts). */
  function actionsFor(rule: Rule | null, profile: string | null | undefined): EffectiveDiscoveryActions {
    const discovery = profile ? deps.profileDiscovery?.(profile) : undefined;
    return effectiveDiscoveryActions(rule, profile && discovery ? { name: profile, discovery } : null);
  }

  /**
   * A ready host's next step by its rule's (or profile's) `afterDiscovery`: wait, or power
   * off — through the BMC when the host has one (done by the caller after
   * commit, `bmcOff`), else the agent powers itself off.
   */
  function afterDiscovery(
    host: Host,
    actions: EffectiveDiscoveryActions | null,
  ): { then: AfterDiscovery; bmcOff?: { host: Host; reason: string } } {
    if (actions?.afterBy == null || host.state !== 'ready') return { then: 'wait' };
    const reason = `after discovery (${actions.afterBy.replace(':', ' ')})`;
    return host.bmc && deps.powerOff ? { then: 'wait', bmcOff: { host, reason } } : { then: 'poweroff' };
  }

  /** Starts a BMC power-off decided inside a transaction, once it has committed; a failure is the power event's, and logged. */
  function powerOffAfterCommit<T extends { bmcOff?: { host: Host; reason: string } }>(out: T): Omit<T, 'bmcOff'> {
    const { bmcOff, ...rest } = out;
    if (bmcOff && deps.powerOff)
      void deps
        .powerOff(bmcOff.host, bmcOff.reason)
        .catch((err) =>
          log.warn({ host: bmcOff.host.name, err: (err as Error).message }, 'power-off after discovery failed'),
        );
    return rest;
  }

  /** `progress` of stage "installed": recorded once per credential and window, with the deployment's move to installed. */
  async function reportInstalled(
    p: Principal & { kind: 'node' },
    message: string,
    handoff: 'kexec' | 'reboot' | undefined,
  ): Promise<void> {
    const trust = await getNodeTrust(db, p.hostId);
    const at = now().getTime();
    if (isInstalledRepeat(trust, at)) {
      log.info({ host: p.hostName }, 'progress "installed" repeated (its first answer was lost); answered as before');
      return;
    }
    await inventory.inTransaction(async (inv, tx) => {
      if (trust.credentialHash) {
        const first = await recordInstalled(tx, {
          hostId: p.hostId,
          credentialHash: trust.credentialHash,
          at: new Date(at).toISOString(),
          until: new Date(at + COMPLETE_REPEAT_WINDOW_MS).toISOString(),
        });
        // A repeat that raced the first past the check above (the row lock let the first through), or a credential
        // replaced since this call was authenticated: nothing recorded.
        if (!first) return;
      }
      const d = await deps.deployments.currentDeployment(p.hostId, tx);
      if (d && d.status === 'deploying') await deps.deployments.setDeploymentStatus(d.id, 'installed', tx);
      await inv.recordEvent({
        actor: `node:${p.hostName}`,
        kind: 'node.progress',
        hostId: p.hostId,
        subject: p.hostName,
        message: `installed: ${message}`,
        data: { stage: 'installed', deployment: d?.id ?? null, ...(handoff ? { handoff } : {}) },
      });
    });
  }

  return {
    /** Resolves a node credential to its host; refuses (and records) a wrong one, a revoked one, or one used from another host's address. */
    async authenticate(secret: string, source: NodeSource): Promise<Principal> {
      await checkRate(source);
      const t = await getNodeTrustByHash(db, hashSecret(secret));
      if (!t)
        return refuse(
          'node.credential_refused',
          `unknown node credential from ${source.ip}`,
          source,
          null,
          'credential_invalid',
        );
      const host = await inventory.getHost(t.hostId);
      if (source.claimedMac && !host.nics.some((n) => n.mac === source.claimedMac)) {
        return refuse(
          'node.credential_refused',
          `credential of ${host.name} presented by MAC ${source.claimedMac}, which is not ${host.name}'s`,
          source,
          host,
          'credential_invalid',
        );
      }
      const owner = deps.leaseOwner ? await deps.leaseOwner(source.ip) : null;
      if (owner && !host.nics.some((n) => n.mac === owner)) {
        return refuse(
          'node.credential_refused',
          `credential of ${host.name} used from ${source.ip}, which is leased to MAC ${owner}`,
          source,
          host,
          'credential_invalid',
        );
      }
      // The first use of a credential issued to a discovery report ends that report's retries (one write, once).
      if (t.enrolSecretHash && t.credentialHash && !(await markCredentialUsed(db, host.id, t.credentialHash)))
        return refuse(
          'node.credential_refused',
          `credential of ${host.name} was replaced by a retried discovery report`,
          source,
          host,
          'credential_invalid',
        );
      // Last address and time are written when the address changes or every 5 minutes, not on every
      // call: an installed host's heartbeat authenticates each interval and must not be a write.
      const at = now();
      if (t.lastIp !== source.ip || !t.lastSeenAt || at.getTime() - Date.parse(t.lastSeenAt) >= TOUCH_EVERY_MS)
        await touchNodeTrust(db, host.id, source.ip, at.toISOString());
      return { kind: 'node', hostId: host.id, hostName: host.name };
    },

    /**
     * A discovery report. The first report of a host enrols it (credential
     * returned once); later ones must carry that credential, except a retry of
     * the enrolling report with its `enrolSecret` while the credential is
     * unused and young (enrol-retry.ts): that one gets a fresh credential
     * replacing the first. Stores facts and the hardware hash, records a diff
     * when the hash changes, applies rules on the first report, and moves
     * new/discovering hosts to ready.
     */
    async discover(
      facts: Record<string, unknown>,
      source: NodeSource,
      bearer: string | null,
      enrolSecret: string | null = null,
    ): Promise<DiscoverAnswer> {
      await checkRate(source);
      const mac = bootMacOf(facts);
      if (bearer) {
        // The credential is checked before anything is written: a bad one creates nothing.
        const p = await this.authenticate(bearer, { ...source, claimedMac: mac });
        const host = await inventory.findHostByMac(mac);
        if (!host || p.kind !== 'node' || p.hostId !== host.id)
          return refuse(
            'node.credential_refused',
            `credential presented for MAC ${mac} belongs to another host`,
            source,
            host,
            'credential_invalid',
          );
        return powerOffAfterCommit(
          await inventory.inTransaction((inv, trx) => report(inv, trx, host, facts, undefined)),
        );
      }
      const known = await inventory.findHostByMac(mac);
      await admitEnrolment(mac, source, known);
      const secretHash = enrolSecret ? hashSecret(enrolSecret) : null;
      // One transaction: host, credential, state, facts and their events commit together, or nothing does.
      const out = await inventory.inTransaction(async (inv, trx) => {
        const host =
          (await inv.findHostByMac(mac)) ??
          (await inv.createHost(
            { name: `node-${mac.replace(/:/g, '')}`, nics: nicsOf(facts, mac) },
            { actor: `node@${source.ip}`, reason: 'unknown MAC reported facts' },
          ));
        const trust = await getNodeTrust(trx, host.id);
        if (trust.armed) {
          const credential = await issueIn(trx, host, trust.armedReason ?? 'first discovery', source, secretHash);
          return report(inv, trx, host, facts, credential);
        }
        // A retry of the report that enrolled the host (its answer lost): answered again, with a fresh credential.
        const retry = decideEnrolRetry(trust, secretHash, now().getTime());
        const credential = retry === 'retry' ? await reissueIn(trx, host, trust, source) : null;
        if (!credential) return { closed: host, why: retry === 'retry' ? ('credential used' as const) : retry };
        // The first report's rules, NIC attachments and state change are in the host already; its BMC power-off
        // was started after its commit and is not started twice.
        return { ...(await report(inv, trx, host, facts, credential)), bmcOff: undefined };
      });
      if ('closed' in out) {
        return refuse(
          'node.enrol_refused',
          `${out.closed.name} (${mac}) is already enrolled; a node must present its credential, or an operator must run \`kiln host rearm ${out.closed.name}\``,
          source,
          out.closed,
          'enrolment_closed',
          { enrolRetry: out.why satisfies EnrolRetryRefusal },
        );
      }
      return powerOffAfterCommit(out);
    },

    /**
     * A re-audit from an installed host's heartbeat agent: the facts are
     * hashed by the same code as a discovery report. Only a changed hash
     * (or a host that never had facts) writes: the diff event and the new
     * facts, in one transaction. Returns the hash.
     */
    async reaudit(hostId: string, facts: Record<string, unknown>): Promise<string> {
      const hash = hardwareHash(facts);
      const host = await inventory.getHost(hostId);
      if (host.hardwareHash === hash) return hash;
      await inventory.inTransaction(async (inv) => {
        const { extra } = await compareHardware(inv, host, facts);
        await inv.recordFacts(host.id, extra, `node:${host.name}`);
      });
      return hash;
    },

    /**
     * Issues a credential to an armed host (installers, after a deploy armed it). With `enrolSecret`, a retry of
     * the same enrolment whose answer was lost is answered again while the credential is unused and young, as for
     * a discovery report (enrol-retry.ts): a fresh credential replaces the first.
     */
    async enrol(
      mac: Mac,
      source: NodeSource,
      enrolSecret: string | null = null,
    ): Promise<{ hostId: string; name: string; credential: string }> {
      await checkRate(source);
      const host = await inventory.findHostByMac(mac);
      if (!host)
        return refuse(
          'node.enrol_refused',
          `enrolment refused: no host has MAC ${mac}`,
          source,
          null,
          'enrolment_closed',
        );
      await admitEnrolment(mac, source, host);
      const secretHash = enrolSecret ? hashSecret(enrolSecret) : null;
      // Armed or not is read in the transaction that issues: two enrolments at once get one credential.
      const out = await withTransaction(
        db,
        async (trx): Promise<{ credential: string } | { why: EnrolRetryRefusal }> => {
          const t = await getNodeTrust(trx, host.id);
          if (t.armed) return { credential: await issueIn(trx, host, t.armedReason ?? 'armed', source, secretHash) };
          const retry = decideEnrolRetry(t, secretHash, now().getTime());
          const credential = retry === 'retry' ? await reissueIn(trx, host, t, source, 'enrolment') : null;
          return credential ? { credential } : { why: retry === 'retry' ? ('credential used' as const) : retry };
        },
      );
      if ('why' in out)
        return refuse(
          'node.enrol_refused',
          `enrolment refused for ${host.name}: already enrolled and not re-armed (deploy or \`kiln host rearm ${host.name}\`)`,
          source,
          host,
          'enrolment_closed',
          { enrolRetry: out.why },
        );
      return { hostId: host.id, name: host.name, credential: out.credential };
    },

    /** Replaces the calling node's credential with a new one (returned once); the old one stops working at once. */
    async rotate(p: Principal & { kind: 'node' }, source: NodeSource): Promise<{ credential: string }> {
      const host = await inventory.getHost(p.hostId);
      return { credential: await withTransaction(db, (trx) => issueIn(trx, host, 'rotated by the node', source)) };
    },

    /** Arms the next enrolment of a host; used by deploy (inside its transaction `tx`) and `kiln host rearm`. */
    async arm(hostId: string, reason: string, actor: string, tx?: Kysely<Database>): Promise<void> {
      // Read the host before opening a transaction (or inside the caller's):
      // on SQLite a query outside an open transaction would wait for it forever (one connection).
      const h = await inventory.getHost(hostId, tx);
      await withTransaction(tx ?? db, async (trx) => {
        const t = await getNodeTrust(trx, hostId);
        await putNodeTrust(trx, { ...t, armed: true, armedReason: reason });
        await appendEvent(
          trx,
          { actor, kind: 'node.armed', hostId, subject: h.name, message: `enrolment of ${h.name} armed: ${reason}` },
          now().toISOString(),
        );
      });
    },

    /**
     * A node that presents no identity (a stateless host whose identity
     * partition is missing or wiped) asks for one with a random request
     * secret it keeps (`kr_` + 64 hex). Nothing is issued: the request is
     * recorded as pending (event `node.identity_pending`, with the code the
     * node shows on its console) until an operator approves it. Only a known
     * host's MAC may ask, from the address Kiln leased to it (discovery policy).
     */
    async requestIdentity(mac: Mac, request: string, source: NodeSource): Promise<IdentityAnswer> {
      await checkRate(source);
      const host = await inventory.findHostByMac(mac);
      if (!host)
        return refuse(
          'node.enrol_refused',
          `identity request refused: no host has MAC ${mac}`,
          source,
          null,
          'enrolment_closed',
        );
      await admitEnrolment(mac, source, host);
      const hash = hashSecret(request);
      const code = identityCode(hash);
      const base = { hostId: host.id, name: host.name, code };
      const existing = await getIdentityRequest(db, host.id);
      if (existing && existing.requestHash === hash && existing.status === 'pending')
        return { status: 'pending', ...base };
      if (existing && existing.requestHash === hash)
        return refuse(
          'node.enrol_refused',
          `identity request ${code} of ${host.name} was already ${existing.status}; the node must make a new request`,
          source,
          host,
          'enrolment_closed',
        );
      await withTransaction(db, async (trx) => {
        const at = now().toISOString();
        await putIdentityRequest(trx, {
          hostId: host.id,
          requestHash: hash,
          code,
          status: 'pending',
          ip: source.ip,
          mac,
          requestedAt: at,
          approvedAt: null,
          approvedBy: null,
        });
        await appendEvent(
          trx,
          {
            actor: `node@${source.ip}`,
            kind: 'node.identity_pending',
            hostId: host.id,
            subject: host.name,
            message: `${host.name} (${mac}, ${source.ip}) presents no identity and is waiting for approval: check the code on its console is ${code}, then \`kiln host approve ${host.name} --code ${code}\``,
            data: { ip: source.ip, mac, code, replaced: existing?.code ?? null },
          },
          at,
        );
      });
      log.info({ host: host.name, ip: source.ip, code }, 'identity request waiting for approval');
      return { status: 'pending', ...base };
    },

    /**
     * The requesting node polls with its request secret, from the address it
     * asked from: pending until approved; once approved, the first claim
     * issues the credential (returned once) and closes the request.
     */
    async claimIdentity(mac: Mac, request: string, source: NodeSource): Promise<IdentityAnswer> {
      await checkRate(source);
      const host = await inventory.findHostByMac(mac);
      const hash = hashSecret(request);
      const q = host ? await getIdentityRequest(db, host.id) : null;
      if (!host || !q || q.requestHash !== hash || q.status === 'claimed' || q.ip !== source.ip)
        return refuse(
          'node.enrol_refused',
          `identity claim refused for MAC ${mac} from ${source.ip}: no open request with this secret from this address`,
          source,
          host,
          'enrolment_closed',
        );
      const base = { hostId: host.id, name: host.name, code: q.code };
      if (q.status === 'pending') return { status: 'pending', ...base };
      const credential = await withTransaction(db, async (trx) => {
        const again = await getIdentityRequest(trx, host.id);
        if (!again || again.requestHash !== hash || again.status !== 'approved') return null;
        await putIdentityRequest(trx, { ...again, status: 'claimed' });
        return issueIn(trx, host, `identity request ${q.code} approved by ${q.approvedBy ?? 'an operator'}`, source);
      });
      if (!credential)
        return refuse(
          'node.enrol_refused',
          `identity request ${q.code} of ${host.name} was claimed already`,
          source,
          host,
          'enrolment_closed',
        );
      return { status: 'approved', ...base, credential };
    },

    /**
     * An operator approves the host's pending identity request (`kiln host
     * approve`); with `code`, only the request showing that code on the
     * node's console. The node then claims its credential.
     */
    async approveIdentity(hostId: string, actor: string, code?: string): Promise<{ code: string; ip: string }> {
      const h = await inventory.getHost(hostId);
      return withTransaction(db, async (trx) => {
        const q = await getIdentityRequest(trx, hostId);
        if (!q || q.status !== 'pending')
          throw new KilnError(
            'conflict',
            `${h.name} has no identity request waiting for approval; the node asks when it boots without its identity partition`,
          );
        const want = code?.trim().toUpperCase();
        if (want && want !== q.code)
          throw new KilnError(
            'conflict',
            `the identity request of ${h.name} has code ${q.code}, not ${want}; check the node's console before approving`,
          );
        const at = now().toISOString();
        await putIdentityRequest(trx, { ...q, status: 'approved', approvedAt: at, approvedBy: actor });
        await appendEvent(
          trx,
          {
            actor,
            kind: 'node.identity_approved',
            hostId,
            subject: h.name,
            message: `identity request ${q.code} of ${h.name} (from ${q.ip}) approved; the node claims its credential next`,
            data: { code: q.code, ip: q.ip },
          },
          at,
        );
        return { code: q.code, ip: q.ip };
      });
    },

    /** The address the host's node last called from (enrolment or an authenticated call), or null. */
    async lastIp(hostId: string): Promise<string | null> {
      return (await getNodeTrust(db, hostId)).lastIp;
    },

    /** Revokes a host's credential (it must enrol again after a re-arm). */
    async revoke(hostId: string, actor: string, reason: string): Promise<void> {
      const h = await inventory.getHost(hostId);
      await withTransaction(db, async (trx) => {
        const t = await getNodeTrust(trx, hostId);
        const at = now().toISOString();
        await putNodeTrust(trx, { ...t, credentialHash: null, revokedAt: at, enrolSecretHash: null, enrolUntil: null });
        await appendEvent(
          trx,
          {
            actor,
            kind: 'node.credential_revoked',
            hostId,
            subject: h.name,
            message: `node credential of ${h.name} revoked`,
            reason,
          },
          at,
        );
      });
    },

    /**
     * Install progress from a node; stage `installed` marks the deployment written (next boot goes to disk),
     * with `handoff` saying how the writer starts the installed system (kept in the event's data). That report
     * again with the same credential within its window (its first answer lost) is a repeat (complete-repeat.ts
     * `isInstalledRepeat`): answered as before, with no second event or deployment write.
     */
    async progress(
      p: Principal & { kind: 'node' },
      stage: string,
      message: string,
      handoff?: 'kexec' | 'reboot',
    ): Promise<void> {
      if (stage === 'installed') return reportInstalled(p, message, handoff);
      const d = await deps.deployments.currentDeployment(p.hostId);
      await inventory.recordEvent({
        actor: `node:${p.hostName}`,
        kind: 'node.progress',
        hostId: p.hostId,
        subject: p.hostName,
        message: `${stage}: ${message}`,
        data: { stage, deployment: d?.id ?? null, ...(handoff ? { handoff } : {}) },
      });
    },

    /**
     * The node says its job is done: deploying → deployed, releasing → ready; in any other state a check-in event.
     * The same call again (its first answer lost) is a repeat for a while (complete-repeat.ts): answered with the
     * host as it is, with no second event or state change.
     */
    async complete(p: Principal & { kind: 'node' }, stage: string): Promise<Host> {
      const trust = await getNodeTrust(db, p.hostId);
      const host = await inventory.getHost(p.hostId);
      if (isCompleteRepeat(trust, stage, now().getTime())) {
        log.info({ host: host.name, stage }, 'completion repeated (its first answer was lost); answered as before');
        return host;
      }
      const actor = `node:${host.name}`;
      const reason = `${stage} complete`;
      // One unit: the completion is kept with the change it makes (and the deployment completes with the move to
      // deployed). A credential replaced since the call was authenticated records nothing: that call is not repeated.
      return inventory.inTransaction(async (inv, tx) => {
        if (trust.credentialHash) {
          const until = new Date(now().getTime() + COMPLETE_REPEAT_WINDOW_MS).toISOString();
          await recordCompletion(tx, { hostId: host.id, stage, credentialHash: trust.credentialHash, until });
        }
        if (host.state === 'deploying') {
          const d = await deps.deployments.currentDeployment(host.id, tx);
          if (d) await deps.deployments.setDeploymentStatus(d.id, 'complete', tx);
          return inv.transition(host.id, 'deployed', { actor, reason });
        }
        if (host.state === 'releasing') return inv.transition(host.id, 'ready', { actor, reason });
        await inv.recordEvent({
          actor,
          kind: 'node.checkin',
          hostId: host.id,
          subject: host.name,
          message: `${host.name} checked in (${stage}) in state ${host.state}`,
        });
        return host;
      });
    },

    /** The node reports a failure at a stage: the host goes to failed with the reason. */
    async failed(p: Principal & { kind: 'node' }, stage: string, reason: string): Promise<Host> {
      return inventory.transition(p.hostId, 'failed', { actor: `node:${p.hostName}`, reason, failedStage: stage });
    },

    /** What a waiting node should do next: reboot when a deploy or a wipe awaits it; run self-tests an operator asked for. */
    async next(
      p: Principal & { kind: 'node' },
    ): Promise<{ action: 'wait' | 'reboot' | 'self-test'; selfTests?: SelfTestPlan }> {
      const host = await inventory.getHost(p.hostId);
      if (host.state === 'deploying' || host.state === 'releasing') return { action: 'reboot' };
      const plan = (await deps.selfTests?.pendingPlan(host.id)) ?? null;
      return plan ? { action: 'self-test', selfTests: plan } : { action: 'wait' };
    },

    /** The agent's self-test results for one run; the answer says what it does next (`afterDiscovery` once ready). */
    async selfTestReport(
      p: Principal & { kind: 'node' },
      runId: string,
      results: SelfTestResult[],
    ): Promise<{ outcome: 'pass' | 'fail'; state: string; then: AfterDiscovery }> {
      if (!deps.selfTests) throw new KilnError('not_found', 'self-tests are not enabled on this controller');
      const wasDiscovering = (await inventory.getHost(p.hostId)).state === 'discovering';
      const { outcome, host } = await deps.selfTests.report(p.hostId, runId, results, `node:${p.hostName}`);
      const rule = wasDiscovering ? await deps.rules.selectRule(host.facts) : null;
      const next = powerOffAfterCommit(afterDiscovery(host, wasDiscovering ? actionsFor(rule, host.profile) : null));
      return { outcome, state: host.state, then: next.then };
    },
  };
}

/** The node service's type. */
export type NodeService = ReturnType<typeof createNodeService>;
