import { KilnError } from '../../error/kiln-error.js';
import { parseMac } from '../../net/mac.js';
import type { Logger } from '../../log/logger.js';
import { silentLogger } from '../../log/logger.js';
import { formatChainScript, formatWaitScript } from '../../protocols/ipxe/script.js';
import type { BootBackend, BootDeployment } from '../boot-backend.js';
import { fillBootSession } from '../boot-session.js';
import type { Mac } from '../../net/mac.js';
import type { Host } from '../../inventory/host.js';
import { createHostScriptCache, type NodeImage, type ScriptPurpose } from './host-script.js';
import type { LoadingGate } from './loading-gate.js';

/** The boot timeline's view for script fetches (src/timeline, wired by the controller). */
export interface ScriptTimeline {
  /** The boot session the script served now belongs to (a new one when this fetch starts a boot). */
  sessionFor(mac: Mac, host: Host): string;
  /** The script was served to `ip` for `mac`: what it sends the host to do. */
  scriptServed(mac: Mac, ip: string, host: Host, purpose: ScriptPurpose, detail: string): void;
}

/** What the firmware sent in the per-host script URL, as received (unvalidated). */
export interface HostScriptQuery {
  mac?: string;
  uuid?: string;
  arch?: string;
  platform?: string;
}

export interface BootServiceDeps {
  /** Hosts by MAC, enrolment of unknown MACs (the discovery policy), deployments and events. */
  backend: BootBackend;
  baseUrl: () => string;
  /** Every healthy controller's base URL on this store, this one's first (cached by the caller); absent: `baseUrl` alone. */
  baseUrls?: () => readonly string[];
  /** Every member base URL seen lately, healthy or not (a deployment's boot spec holds its deploying member's). */
  knownBaseUrls?: () => readonly string[];
  nodeImage: () => NodeImage | null;
  nodeImageArgs?: string;
  retryDelaySeconds?: number;
  log?: Logger;
  /** Boot sessions and the timeline; absent: scripts carry no session. */
  timeline?: ScriptTimeline;
  /** The boot waiting room: hosts whose script loads a kernel wait for a slot; absent: none wait. */
  loadingGate?: Pick<LoadingGate, 'ask'>;
  /** True while DHCP or TFTP (the stages racing firmware timers) are under pressure: no new kernel load starts. */
  firmwareStagesBusy?: () => boolean;
  now?: () => number;
}

/** Scripts that load a kernel (and so take a slot of the boot waiting room). */
const LOADS_KERNEL: ReadonlySet<ScriptPurpose> = new Set(['discover', 'wipe', 'install']);
/** The timeline's detail for a queued host's script (one text: repeats are recognised as repeats). */
const QUEUED = 'wait script: waiting for a slot to load its kernel (boot waiting room)';

/** The deployment's boot spec with `boot.session` filled in for the boot this script starts or continues. */
function withSession(d: BootDeployment, session: string | null): BootDeployment {
  const fill = (t: string) => fillBootSession(t, session);
  const { kernel, initrd, cmdline } = d.bootSpec;
  return { ...d, bootSpec: { kernel: fill(kernel), initrd: initrd.map(fill), cmdline: fill(cmdline) } };
}

/** Hosts whose last recorded boot stage is remembered (older ones are forgotten first; a forgotten host records its next fetch). */
const STAGES_REMEMBERED = 100_000;

/**
 * HTTP boot over the boot backend: the chain script, and each host's script by state.
 * An unknown MAC becomes a `new` host sent to discovery when the discovery
 * policy admits it; a script is answered only to an address the policy
 * accepts for the MAC. Boots are recorded, not fetches: a `boot.script`
 * event when a host's boot stage (state, action, deployment) changes, not
 * on every repeated fetch of the same script.
 */
export function createBootService(deps: BootServiceDeps) {
  const log = deps.log ?? silentLogger;
  const delay = deps.retryDelaySeconds ?? 10;
  const { backend } = deps;
  const lastStage = new Map<string, string>();
  /** True when this stage of the host differs from the last one recorded (and remembers it). */
  const stageChanged = (hostId: string, stage: string): boolean => {
    if (lastStage.get(hostId) === stage) return false;
    lastStage.delete(hostId);
    if (lastStage.size >= STAGES_REMEMBERED) lastStage.delete(lastStage.keys().next().value!);
    lastStage.set(hostId, stage);
    return true;
  };
  const scripts = createHostScriptCache({
    fillDeployment: (d, session) => backend.fillInstallToken(withSession(d, session)),
  });
  /** This controller's base URL first, then the other members' (for failover). */
  const bases = (): readonly string[] => {
    const own = deps.baseUrl();
    const all = deps.baseUrls?.() ?? [];
    return all.length > 1 && all[0] === own ? all : [own, ...all.filter((u) => u !== own)];
  };
  return {
    chainScript: () =>
      formatChainScript(
        bases().map((b) => `${b}/boot/host.ipxe`),
        delay,
      ),

    /** Resolves when the boot events of the scripts served so far are written (they are written after the answer). */
    flushEvents: () => backend.flushEvents(),

    async hostScript(q: HostScriptQuery, sourceIp: string): Promise<string> {
      const platform = q.platform === 'efi' ? 'efi' : 'pcbios';
      const arch = (q.arch ?? '').replace(/[^a-z0-9_]/gi, '').slice(0, 16);
      const mac = parseMac(q.mac ?? '');
      const baseUrls = bases();
      const query = `/boot/host.ipxe?mac=${encodeURIComponent(q.mac ?? '')}&uuid=${encodeURIComponent(q.uuid ?? '')}&arch=${encodeURIComponent(arch)}&platform=${platform}`;
      // This script at this controller, then at the others: a retry goes to whichever still answers.
      const retry = {
        url: `${baseUrls[0]}${query}`,
        delaySeconds: delay,
        ...(baseUrls.length > 1 ? { alternates: baseUrls.slice(1).map((b) => `${b}${query}`) } : {}),
      };
      if (!mac) {
        log.warn({ ip: sourceIp, mac: q.mac }, 'boot script requested without a valid MAC');
        return formatWaitScript(
          `no valid MAC in the request (got "${String(q.mac ?? '').slice(0, 40)}"); the chain script sends \${net0/mac}`,
          retry,
        );
      }
      let host = await backend.hostByMac(mac);
      // Checked before any write: the source address, then (for an unknown MAC) the discovery policy.
      const source = await backend.checkSource(mac, sourceIp, host);
      if (!source.ok) throw new KilnError(source.code, source.reason);
      if (!host) {
        const enrolment = backend.enrolUnknown(mac, {
          via: 'http',
          ip: sourceIp,
          firmware: platform === 'efi' ? 'uefi' : 'bios',
        });
        if (!enrolment.ok) throw new KilnError(enrolment.code, enrolment.reason);
        host = await enrolment.host;
      }
      if (host.state === 'new' && deps.nodeImage()) host = await backend.beginDiscovery(host, `boot@${sourceIp}`);
      // The deployment as stored (placeholders in): the script cache fills it on a miss. A deployed host's too: a
      // stateless one boots its image from the network every time.
      const deployment =
        host.state === 'deploying' || host.state === 'deployed' ? await backend.bootDeployment(host.id) : null;
      const session = deps.timeline?.sessionFor(mac, host) ?? null;
      const { action, script, purpose } = scripts.render({
        host,
        deployment,
        query: { platform, arch },
        baseUrl: baseUrls[0],
        ...(baseUrls.length > 1 ? { baseUrls } : {}),
        ...(deps.knownBaseUrls ? { knownBaseUrls: deps.knownBaseUrls() } : {}),
        nodeImage: deps.nodeImage(),
        retry,
        nodeImageArgs: deps.nodeImageArgs ?? '',
        session,
      });
      if (deps.loadingGate && LOADS_KERNEL.has(purpose)) {
        const g = deps.loadingGate.ask(mac, deps.now?.() ?? Date.now(), deps.firmwareStagesBusy?.() ?? false, sourceIp);
        if (!g.admit) {
          deps.timeline?.scriptServed(mac, sourceIp, host, 'queued', QUEUED);
          log.debug(
            { mac, host: host.name, ip: sourceIp, position: g.position, waiting: g.waiting, delay: g.delaySeconds },
            'per-host script: queued for a loading slot',
          );
          return formatWaitScript(
            `${g.loading} machines are loading their kernel from this controller; ${host.name} is ${g.position} of ${g.waiting} waiting for a slot (to ${purpose})`,
            { ...retry, delaySeconds: g.delaySeconds },
          );
        }
      }
      deps.timeline?.scriptServed(mac, sourceIp, host, purpose, action);
      if (
        !stageChanged(
          host.id,
          `${host.state}\n${deployment?.id ?? ''}\n${deployment?.status ?? ''}\n${action}\n${platform}`,
        )
      ) {
        log.debug(
          { mac, host: host.name, ip: sourceIp, state: host.state },
          'served per-host iPXE script again (same boot stage: no event)',
        );
        return script;
      }
      // An observation, not a decision (a state change this fetch caused, beginDiscovery, is committed above):
      // written by group commit after the answer.
      backend.noteEvent({
        actor: `boot@${sourceIp}`,
        kind: 'boot.script',
        hostId: host.id,
        subject: host.name,
        message: `${host.name} (${mac}) fetched its iPXE script from ${sourceIp}: ${action}`,
        data: { mac, ip: sourceIp, platform, arch, uuid: q.uuid ?? null, state: host.state },
      });
      log.info(
        { mac, host: host.name, ip: sourceIp, platform, arch, state: host.state },
        'served per-host iPXE script',
      );
      return script;
    },
  };
}

/** The boot service's type. */
export type BootService = ReturnType<typeof createBootService>;
