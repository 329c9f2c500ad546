import type { Kysely } from 'kysely';
import { getCurrentDeployment, type Deployment } from '../../deploy/deployment.js';
import type { InventoryService } from '../../inventory/inventory-service.js';
import { parseMac } from '../../inventory/mac.js';
import type { Logger } from '../../log/logger.js';
import { silentLogger } from '../../log/logger.js';
import { formatChainScript, formatWaitScript } from '../../protocols/ipxe/script.js';
import { renderHostScript, type NodeImage } from './host-script.js';

/** What the firmware sent in the per-host script URL, as received (unvalidated). */
export interface HostScriptQuery {
  mac?: string;
  uuid?: string;
  arch?: string;
  platform?: string;
}

export interface BootServiceDeps {
  db: Kysely<any>;
  inventory: InventoryService;
  baseUrl: () => string;
  nodeImage: () => NodeImage | null;
  nodeImageArgs?: string;
  retryDelaySeconds?: number;
  log?: Logger;
  /** Puts the deployment's install token into its boot spec (see deploy/install-token.ts); identity when absent. */
  fillInstallToken?: (d: Deployment) => Deployment;
}

/**
 * The HTTP boot backend: the chain script, and each host's script by state.
 * An unknown MAC becomes a `new` host sent to discovery; every script served
 * is an event (`boot.script`), so the host's timeline shows each fetch.
 */
export function createBootService(deps: BootServiceDeps) {
  const log = deps.log ?? silentLogger;
  const delay = deps.retryDelaySeconds ?? 10;
  return {
    chainScript: () => formatChainScript(`${deps.baseUrl()}/boot/host.ipxe`, delay),

    async hostScript(q: HostScriptQuery, sourceIp: string): Promise<string> {
      const platform = q.platform === 'efi' ? 'efi' : 'pcbios';
      const arch = (q.arch ?? '').replace(/[^a-z0-9_]/gi, '').slice(0, 16);
      const mac = parseMac(q.mac ?? '');
      const self = `${deps.baseUrl()}/boot/host.ipxe?mac=${encodeURIComponent(q.mac ?? '')}&uuid=${encodeURIComponent(q.uuid ?? '')}&arch=${encodeURIComponent(arch)}&platform=${platform}`;
      const retry = { url: self, delaySeconds: delay };
      if (!mac) {
        log.warn({ ip: sourceIp, mac: q.mac }, 'boot script requested without a valid MAC');
        return formatWaitScript(`no valid MAC in the request (got "${String(q.mac ?? '').slice(0, 40)}"); the chain script sends \${net0/mac}`, retry);
      }
      let host = await deps.inventory.findHostByMac(mac);
      if (!host) {
        host = await deps.inventory.createHost({ name: `node-${mac.replace(/:/g, '')}`, nics: [{ mac, name: null, boot: true }], firmware: platform === 'efi' ? 'uefi' : 'bios' },
          { actor: `boot@${sourceIp}`, reason: 'unknown MAC network-booted' });
        log.info({ mac, host: host.name, ip: sourceIp }, 'unknown MAC network-booted: host created');
      }
      if (host.state === 'new' && deps.nodeImage()) {
        host = await deps.inventory.transition(host.id, 'discovering', { actor: `boot@${sourceIp}`, reason: 'booting the discovery image' });
      }
      const stored = host.state === 'deploying' ? await getCurrentDeployment(deps.db, host.id) : null;
      const deployment = stored && deps.fillInstallToken ? deps.fillInstallToken(stored) : stored;
      const script = renderHostScript({ host, deployment, query: { platform, arch }, baseUrl: deps.baseUrl(), nodeImage: deps.nodeImage(), retry, nodeImageArgs: deps.nodeImageArgs ?? '' });
      const action = script.match(/^echo Kiln: (.*)$/m)?.[1] ?? '';
      await deps.inventory.recordEvent({ actor: `boot@${sourceIp}`, kind: 'boot.script', hostId: host.id, subject: host.name,
        message: `${host.name} (${mac}) fetched its iPXE script from ${sourceIp}: ${action}`, data: { mac, ip: sourceIp, platform, arch, uuid: q.uuid ?? null, state: host.state } });
      log.info({ mac, host: host.name, ip: sourceIp, platform, arch, state: host.state }, 'served per-host iPXE script');
      return script;
    },
  };
}

/** The boot service's type. */
export type BootService = ReturnType<typeof createBootService>;
