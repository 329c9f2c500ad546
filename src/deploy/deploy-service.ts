import type { BatchPacing, BatchResult } from '../power/host-power.js';
import type { AdmissionStats } from '../power/admission-gate.js';
import type { TangPlanState } from '../machine/plan-storage.js';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { KilnError } from '../error/kiln-error.js';
import type { Host } from '../inventory/host.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import type { ProfileCatalog } from '../profile/profile-catalog.js';
import type { SiteContext } from '../template/render-context.js';
import { bootSpecFrom, bootSpecPaths } from '../profile/render-boot-spec.js';
import { imageSpecFrom, imageSpecPaths } from '../profile/render-image-spec.js';
import type { TemplateRenderer } from '../template/render-pool.js';
import { machineFactsFrom, type MachineSubnet } from '../machine/machine-facts.js';
import {
  MACHINE_PLAN_FILE,
  machinePlanAddresses,
  parseMachineDescription,
  planMachine,
} from '../machine/plan-machine.js';
import { buildRenderContext, type KilnUrls } from './render-context.js';
import { createBootDeploymentCache } from './boot-deployment-cache.js';
import { isPostgres } from '../store/database.js';
import {
  getCurrentBootDeployment,
  getCurrentDeployment,
  insertDeployment,
  listDeployments,
  setDeploymentStatus,
  type BootDeployment,
  type Deployment,
} from './deployment.js';

/** What a deploy or release asks of the host's power driver; absent when no BMC is set or power is not wired. */
export type PowerRequest = (host: Host, action: 'netboot' | 'poweroff', reason: string) => Promise<void>;

/**
 * Network boots for many deployed hosts, paced by the data plane's headroom or a stagger (the power service's
 * `netbootBatch`); one result per host, in order, and what admission control saw (null with stagger pacing).
 */
export type NetbootBatch = (
  hosts: Host[],
  pacing: BatchPacing,
  reason: string,
) => Promise<{ items: BatchResult[]; admission: AdmissionStats | null }>;

/** One host of a batch deploy: its deployment when it was made, and what happened to its network boot. */
export interface BatchDeployItem {
  host: string;
  ok: boolean;
  state?: string;
  deployment?: { id: string; profile: string };
  /** `started`: booted through the batch's pacing; `no-bmc`: deployed, power it on yourself; `not-deployed`. */
  power: 'started' | 'failed' | 'no-bmc' | 'not-deployed';
  error?: { code: string; message: string };
}

/** What one deploy is asked: the profile (default: the host's), its variables, who and why; `reuse` repeats the last deployment's files. */
export interface DeployOptions {
  profile?: string;
  variables?: Record<string, unknown>;
  actor: string;
  reason?: string;
  reuse?: boolean;
}

/** Deploys made before their boots; at most this many render at once (each render runs on the template workers). */
const BATCH_RENDERS = 4;

export interface DeployDeps {
  db: Kysely<Database>;
  inventory: InventoryService;
  /** Arms the host's next node enrolment (the node service's `arm`), inside the deploy's transaction `tx`. */
  armNode: (hostId: string, reason: string, actor: string, tx?: Kysely<Database>) => Promise<void>;
  profiles: ProfileCatalog;
  site: SiteContext;
  urls: () => KilnUrls;
  /** Runs the templates off the main thread, with the time and output limits. */
  renderer: TemplateRenderer;
  power?: PowerRequest;
  /** A batch deploy's paced boots; without it each deployed host's `power` request runs in turn. */
  netbootBatch?: NetbootBatch;
  now?: () => Date;
  newId: () => string;
  /** Revokes the host's SSH certificates at release (the next owner of the machine gets new ones). */
  revokeCertificates?: (hostId: string, actor: string, reason: string, tx?: Kysely<Database>) => Promise<void>;
  /** Records each new deployment's install-file URL token (see install-token.ts). */
  installTokens?: {
    issue(d: Pick<Deployment, 'id' | 'hostId'>, tx?: Kysely<Database>): Promise<void>;
    fillDeployment<D extends Pick<Deployment, 'id' | 'bootSpec'>>(d: D): D;
  };
  /** Kiln's DHCP subnets, for machine descriptions' `reservation` addresses. */
  subnets?: () => MachineSubnet[];
  /** Kiln's Tang server for LUKS volumes, or why there is none (default: off). */
  tang?: () => TangPlanState;
}

/**
 * Deploy and release, and the host's deployments for other domains. A deploy
 * renders every install file, the boot spec and the image spec once, then in
 * one transaction keeps them as the host's deployment, moves the host to
 * `deploying` and arms a one-time enrolment for its installer; after the
 * commit it asks the power driver for a one-time network boot. Rendering
 * errors refuse the deploy, so a broken template never reaches a booting machine.
 */
export function createDeployService(deps: DeployDeps) {
  const now = () => (deps.now ?? (() => new Date()))().toISOString();
  // On PostgreSQL other controllers write deployments: every fetch reads the store (not yet cached there).
  const bootCache = isPostgres(deps.db) ? null : createBootDeploymentCache();
  /** Runs a deployment write with the boot cache emptied before it and after it (committed, or rolled back). */
  const changing = async <T>(write: () => Promise<T>): Promise<T> => {
    bootCache?.changed();
    try {
      return await write();
    } finally {
      bootCache?.changed();
    }
  };

  async function render(
    host: Host,
    profileName: string,
    variables: Record<string, unknown>,
  ): Promise<Omit<Deployment, 'id' | 'hostId' | 'status' | 'createdAt' | 'createdBy' | 'installedAt' | 'completedAt'>> {
    const profile = deps.profiles.get(profileName);
    if (!profile) throw new KilnError('not_found', `no loaded profile named ${profileName}; see \`kiln profile list\``);
    const ctx = buildRenderContext(host, profile, deps.site, deps.urls(), variables);
    // One job for every template of the deploy: one time limit and one output budget for all of them.
    const paths = [
      ...new Set([
        ...[...profile.files.values()].map((f) => f.virtualPath),
        ...bootSpecPaths(profile),
        ...imageSpecPaths(profile),
      ]),
    ];
    const texts = await deps.renderer.render(profile, paths, ctx);
    const text = (f: { virtualPath: string }): string => texts.get(f.virtualPath)!;
    const files = Object.fromEntries([...profile.files].map(([name, f]) => [name, text(f)]));
    const bootSpec = bootSpecFrom(profile, ctx.kiln.baseUrl, text);
    const imageSpec = profile.image
      ? ({ ...imageSpecFrom(profile, ctx.host.firmware, text) } as Record<string, unknown>)
      : null;
    return { profile: profileName, files, bootSpec, imageSpec };
  }

  /**
   * With layout `machine`: parses the rendered machine description, checks it
   * against the host's stored facts and keeps the concrete plan beside the
   * install files (`machine-plan.json`). A description that does not fit
   * refuses the deploy (`layout_unfit`) before anything is stored or written.
   */
  function withMachinePlan<T extends Pick<Deployment, 'files' | 'imageSpec'>>(host: Host, rendered: T): T {
    const spec = rendered.imageSpec;
    if (spec?.['layout'] !== 'machine') return rendered;
    const name = typeof spec['machine'] === 'string' ? spec['machine'] : '';
    const text = rendered.files[name];
    if (text === undefined)
      throw new KilnError('validation_failed', `layout machine: the deployment has no install file ${name}`);
    const description = parseMachineDescription(text, name);
    const plan = planMachine(description, machineFactsFrom(host, deps.subnets?.() ?? []), {
      hostName: host.name,
      ...(deps.tang ? { tang: deps.tang() } : {}),
    });
    return { ...rendered, files: { ...rendered.files, [MACHINE_PLAN_FILE]: `${JSON.stringify(plan, null, 2)}\n` } };
  }

  const service = {
    /** The host's newest deployment, or null (in the caller's transaction `tx` when given). */
    currentDeployment: (hostId: string, tx?: Kysely<Database>): Promise<Deployment | null> =>
      getCurrentDeployment(tx ?? deps.db, hostId),

    /** The static addresses the newest deployment's machine description gives the installed system (none without one). */
    async plannedAddresses(hostId: string): Promise<string[]> {
      const d = await getCurrentDeployment(deps.db, hostId);
      return machinePlanAddresses(d?.files[MACHINE_PLAN_FILE]);
    },

    /**
     * What the per-host boot script needs of the newest deployment, or null; asked on every fetch of a deploying
     * host, answered from memory on SQLite (emptied by every deployment write here). Its boot spec still holds
     * the install token and boot session placeholders: they are put in when a script is rendered (the boot
     * service caches scripts by deployment id and session). Frozen: callers share it.
     */
    bootDeployment: (hostId: string): Promise<BootDeployment | null> =>
      bootCache
        ? bootCache.get(hostId, (id) => getCurrentBootDeployment(deps.db, id))
        : getCurrentBootDeployment(deps.db, hostId),

    /** The deployment's boot spec with its install token filled in (unchanged without install tokens). */
    fillInstallToken: <D extends Pick<BootDeployment, 'id' | 'bootSpec'>>(d: D): D =>
      deps.installTokens ? deps.installTokens.fillDeployment(d) : d,

    /** A host's deployments, newest first. */
    listDeployments: (hostId: string): Promise<Deployment[]> => listDeployments(deps.db, hostId),

    /** Moves a deployment to a later status (installed, complete), stamped now; in the caller's transaction `tx` when given. */
    // Inside a caller's transaction the cache is emptied at the write; a read after it waits for the commit (SQLite).
    setDeploymentStatus: (id: string, status: Deployment['status'], tx?: Kysely<Database>): Promise<void> =>
      changing(() => setDeploymentStatus(tx ?? deps.db, id, status, now())),

    /** Renders without deploying: what `deploy` would give this host (for `kiln host deploy --dry-run`). */
    async preview(hostRef: string, profileName: string | undefined, variables: Record<string, unknown> = {}) {
      const host = await deps.inventory.getHost(hostRef);
      const name = profileName ?? host.profile;
      if (!name) throw new KilnError('validation_failed', `host ${host.name} has no profile; pass one (--profile)`);
      return withMachinePlan(host, await render(host, name, variables));
    },

    /**
     * `deploy` for many hosts at once: each host's deployment is made first (at most BATCH_RENDERS render at
     * once; a host that fails is reported and the rest go on), then the deployed hosts with a BMC are network-booted
     * through the power queue, paced as `kiln host power-on-batch` paces (docs/power.md): a row deployed at once is
     * the same worst morning as a row powered on at once.
     */
    async deployMany(
      hostRefs: string[],
      opts: DeployOptions & { pacing: BatchPacing },
    ): Promise<{ items: BatchDeployItem[]; admission: AdmissionStats | null }> {
      const made = new Array<{ host: Host; deployment: Deployment } | KilnError>(hostRefs.length);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < hostRefs.length) {
          const i = next++;
          try {
            made[i] = await service.deploy(hostRefs[i], { ...opts, power: false });
          } catch (err) {
            made[i] =
              err instanceof KilnError ? err : new KilnError('internal', `deploy failed: ${(err as Error).message}`);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(BATCH_RENDERS, hostRefs.length) }, worker));
      const toBoot = deps.power
        ? made.filter((m): m is { host: Host; deployment: Deployment } => !(m instanceof KilnError) && !!m.host.bmc)
        : [];
      const reason = opts.reason ?? `deploy ${opts.profile ?? 'batch'}`;
      let booted: { items: BatchResult[]; admission: AdmissionStats | null } = { items: [], admission: null };
      if (deps.netbootBatch)
        booted = await deps.netbootBatch(
          toBoot.map((m) => m.host),
          opts.pacing,
          reason,
        );
      else
        for (const m of toBoot) {
          try {
            await deps.power!(m.host, 'netboot', `deploy ${m.deployment.profile}`);
            booted.items.push({ host: m.host.name, ok: true });
          } catch (err) {
            const e = err instanceof KilnError ? err : new KilnError('bmc_error', (err as Error).message);
            booted.items.push({ host: m.host.name, ok: false, error: { code: e.code, message: e.message } });
          }
        }
      const bootOf = new Map(toBoot.map((m, i) => [m.host.id, booted.items[i]]));
      const items = made.map((m, i): BatchDeployItem => {
        if (m instanceof KilnError)
          return { host: hostRefs[i], ok: false, power: 'not-deployed', error: { code: m.code, message: m.message } };
        const base = {
          host: m.host.name,
          state: m.host.state,
          deployment: { id: m.deployment.id, profile: m.deployment.profile },
        };
        const b = bootOf.get(m.host.id);
        if (!b) return { ...base, ok: true, power: 'no-bmc' };
        return b.ok ? { ...base, ok: true, power: 'started' } : { ...base, ok: false, power: 'failed', error: b.error };
      });
      return { items, admission: booted.admission };
    },

    async deploy(
      hostRef: string,
      /** `power: false`: make the deployment but leave the network boot to the caller (`deployMany` paces them). */
      opts: DeployOptions & { power?: boolean },
    ): Promise<{ host: Host; deployment: Deployment }> {
      let host = await deps.inventory.getHost(hostRef);
      const name = opts.profile ?? host.profile;
      if (!name) throw new KilnError('validation_failed', `host ${host.name} has no profile; pass one (--profile)`);
      const previous = opts.reuse ? await getCurrentDeployment(deps.db, host.id) : null;
      if (opts.reuse && !previous)
        throw new KilnError('not_found', `host ${host.name} has no earlier deployment to repeat`);
      const rendered = withMachinePlan(
        host,
        previous
          ? {
              profile: previous.profile,
              files: previous.files,
              bootSpec: previous.bootSpec,
              imageSpec: previous.imageSpec,
            }
          : await render(host, name, opts.variables ?? {}),
      );
      const deployment: Deployment = {
        id: deps.newId(),
        hostId: host.id,
        ...rendered,
        status: 'deploying',
        createdAt: now(),
        createdBy: opts.actor,
        installedAt: null,
        completedAt: null,
      };
      // One unit: state, deployment, install token, node arm and their events commit together or not at all.
      host = await changing(() =>
        deps.inventory.inTransaction(async (inv, tx) => {
          const moved = await inv.transition(host.id, 'deploying', {
            actor: opts.actor,
            reason: opts.reason ?? `deploy ${rendered.profile}`,
            extra: { profile: rendered.profile },
          });
          await insertDeployment(tx, deployment);
          await deps.installTokens?.issue(deployment, tx);
          // A stateless image keeps the identity the host already has (its identity partition); a host without one
          // gets a credential only through an approved identity request, never by arming enrolment for its MAC.
          if (rendered.imageSpec?.['stateless'] !== true)
            await deps.armNode(moved.id, `deploy ${rendered.profile}`, opts.actor, tx);
          return moved;
        }),
      );
      if (opts.power !== false && deps.power && host.bmc)
        await deps.power(host, 'netboot', `deploy ${rendered.profile}`);
      return { host, deployment };
    },

    /** Release: with `wipe` the host boots the wipe image and returns to ready when it reports; without, it is ready at once. */
    // State, certificate revocation and the node's arming commit as one unit; power acts after the commit.
    async release(hostRef: string, opts: { wipe: boolean; actor: string; reason?: string }): Promise<Host> {
      const found = await deps.inventory.getHost(hostRef);
      const host = await deps.inventory.inTransaction(async (inv, tx) => {
        const moved = await inv.transition(found.id, 'releasing', {
          actor: opts.actor,
          reason: opts.reason ?? (opts.wipe ? 'release with wipe' : 'release'),
        });
        await deps.revokeCertificates?.(moved.id, opts.actor, opts.reason ?? 'host released', tx);
        if (!opts.wipe)
          return inv.transition(moved.id, 'ready', { actor: opts.actor, reason: 'released without wipe' });
        await deps.armNode(moved.id, 'wipe', opts.actor, tx);
        return moved;
      });
      if (opts.wipe && deps.power && host.bmc) await deps.power(host, 'netboot', 'wipe');
      return host;
    },
  };
  return service;
}

/** The deploy service's type. */
export type DeployService = ReturnType<typeof createDeployService>;
