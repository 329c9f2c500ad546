import type { BootDeployment } from '../boot-backend.js';
import { KilnError } from '../../error/kiln-error.js';
import type { Host } from '../../inventory/host.js';
import { specAtMembers } from './spec-at-members.js';
import {
  formatKernelScript,
  formatLocalBootScript,
  formatWaitScript,
  ipxeText,
  IpxeScriptError,
  type IpxeRetry,
} from '../../protocols/ipxe/script.js';

/** What the firmware told us in the script URL (`platform` is pcbios or efi; `arch` is iPXE's buildarch). */
export interface BootQuery {
  platform: 'pcbios' | 'efi';
  arch: string;
}

/** Kiln's own node image (discovery, image writer, wipe share one kernel and initramfs), served at `<baseUrl>/boot/kiln/<arch>/`. Null when it is not built yet. */
export interface NodeImage {
  arch: string;
  /**
   * The version this member serves (docs/adr/0016-node-image-between-members.md): the node image's URLs in a
   * script carry it (`?version=`), so every member a machine reaches serves that version's kernel and initrd,
   * never one of each. Absent (tests): the URLs carry none and name the member's current image.
   */
  version?: string;
}

/** `?version=<v>` for an image with a version, else nothing (the member's current image). */
const versionQuery = (image: NodeImage): string => (image.version ? `?version=${image.version}` : '');

/** `url` pinned to the image's version when it names a file of Kiln's node image at a member (`<base>/boot/kiln/<arch>/<file>`). */
function pinNodeImage(url: string, i: HostScriptInput): string {
  const bases = [i.baseUrl, ...(i.baseUrls ?? []), ...(i.knownBaseUrls ?? [])];
  const atMember = bases.some(
    (b) => /^\/boot\/kiln\/[^/?]+\/(vmlinuz|initrd\.img)$/.test(url.slice(b.length)) && url.startsWith(b),
  );
  return i.nodeImage && atMember ? `${url}${versionQuery(i.nodeImage)}` : url;
}

/** Everything the per-host script depends on; the decision is a pure function of it. */
export interface HostScriptInput {
  host: Host;
  deployment: BootDeployment | null;
  query: BootQuery;
  baseUrl: string;
  /**
   * Every healthy controller's base URL on this store, this one's (`baseUrl`) first. Kiln's node image is then
   * loaded from the first that answers, and its agent gets them all (`kiln.urls=`) to fail over to. Absent or one
   * URL: `baseUrl` alone.
   */
  baseUrls?: readonly string[];
  /**
   * Every member base URL a deployment's boot spec may hold (the deploying member's, healthy or not): a spec under
   * one of them is booted from each of `baseUrls` in turn (spec-at-members.ts). Absent: `baseUrls` alone.
   */
  knownBaseUrls?: readonly string[];
  nodeImage: NodeImage | null;
  retry: IpxeRetry;
  /** Extra kernel arguments for Kiln's node image (e.g. the console). */
  nodeImageArgs: string;
  /** The boot session this script belongs to (`kiln.session=` on the kernel command line); null: none. */
  session?: string | null;
}

/** What a script sends the host to do (the boot timeline's next stages follow from it); `queued`: the boot waiting room's wait. */
export type ScriptPurpose = 'discover' | 'wipe' | 'install' | 'first-boot' | 'local' | 'wait' | 'queued';

/** A rendered per-host script and its action: the text of its `echo Kiln:` line (what the boot event records). */
export interface HostScript {
  action: string;
  script: string;
  purpose: ScriptPurpose;
}

/** The script `format` builds around `action`, with the action as the script's echo line shows it. */
const scriptOf = (purpose: ScriptPurpose, action: string, format: (title: string) => string): HostScript => ({
  action: ipxeText(action),
  script: format(action),
  purpose,
});

/** ` kiln.session=<id>` for a script with a session, else nothing. */
const sessionArg = (i: HostScriptInput): string => (i.session ? ` kiln.session=${i.session}` : '');

const bootMac = (h: Host) => h.nics.find((n) => n.boot)?.mac ?? h.nics[0]?.mac ?? '';

const waitScript = (i: HostScriptInput, reason: string): HostScript =>
  scriptOf('wait', reason, (r) => formatWaitScript(r, i.retry));

function nodeImageScript(i: HostScriptInput, mode: 'discover' | 'wipe', title: string): HostScript {
  const image = i.nodeImage;
  if (!image) return waitScript(i, `${i.host.name}: Kiln's node image is not built yet (kiln image build-discovery)`);
  if (i.query.arch && i.query.arch !== 'x86_64' && i.query.arch !== 'i386' && image.arch === 'x86_64') {
    return waitScript(i, `${i.host.name}: no ${mode} image for architecture ${i.query.arch}`);
  }
  const mac = bootMac(i.host);
  // Every controller's URL, this one's first; one without a comma only (they are joined by commas for the agent).
  const bases = [...new Set([i.baseUrl, ...(i.baseUrls ?? []).filter((u) => !u.includes(','))])];
  const others = bases.length > 1 ? ` kiln.urls=${bases.join(',')}` : '';
  return scriptOf(mode, title, (t) =>
    formatKernelScript(
      t,
      bases.map((base) => ({
        kernel: `${base}/boot/kiln/${image.arch}/vmlinuz${versionQuery(image)}`,
        initrds: [{ url: `${base}/boot/kiln/${image.arch}/initrd.img${versionQuery(image)}`, name: 'initrd.img' }],
        // BOOTIF (pxelinux convention, "01-" + MAC with dashes) names the boot NIC to the agent.
        cmdline:
          `kiln.url=${base}${others} kiln.mode=${mode} kiln.mac=${mac} BOOTIF=01-${mac.replace(/:/g, '-')}${sessionArg(i)} ${i.nodeImageArgs}`.trim(),
      })),
      i.retry,
    ),
  );
}

/**
 * The boot spec's kernel script, as a deploy renders it (the installer's, or a stateless image's every boot): from
 * each member in turn when the spec's files are under a member's URL.
 */
function specScript(i: HostScriptInput, d: BootDeployment, purpose: ScriptPurpose, title: string): HostScript {
  const bases = [i.baseUrl, ...(i.baseUrls ?? [])];
  const specs = specAtMembers(d.bootSpec, bases, i.knownBaseUrls ?? []);
  return scriptOf(purpose, title, (t) =>
    formatKernelScript(
      t,
      specs.map((spec) => ({
        kernel: pinNodeImage(spec.kernel, i),
        initrds: spec.initrd.map((url, n) => ({
          url: pinNodeImage(url, i),
          name: spec.initrd.length === 1 ? 'initrd.img' : `initrd${n}.img`,
        })),
        cmdline: `${spec.cmdline}${sessionArg(i)}`,
      })),
      i.retry,
    ),
  );
}

/** A stateless deployment's boot: the node image fetches the squashfs root and runs it from RAM (docs/stateless.md). */
const statelessScript = (i: HostScriptInput, d: BootDeployment): HostScript =>
  specScript(
    i,
    d,
    'install',
    `${i.host.name} is ${i.host.state}: booting profile ${d.profile} stateless (root in RAM)`,
  );

/**
 * Chooses and renders the iPXE script for one host from its state: new or
 * discovering → discovery image; ready, deployed, retired → local disk;
 * deploying → the deployment's installer until it reports `installed`, then
 * local disk (a stateless deployment: its boot spec every time, deployed too); releasing → wipe image; failed → the reason, then retry.
 * A deploying host has a deployment: the deploy commits both in one
 * transaction (a host moved to `deploying` by hand without one is a conflict).
 */
export function renderHostScript(i: HostScriptInput): HostScript {
  const h = i.host;
  try {
    switch (h.state) {
      case 'new':
      case 'discovering':
        return nodeImageScript(i, 'discover', `${h.name} is ${h.state}: booting the discovery image`);
      case 'releasing':
        return nodeImageScript(i, 'wipe', `${h.name} is releasing: booting the wipe image`);
      case 'deploying': {
        const d = i.deployment;
        if (!d)
          throw new KilnError('conflict', `${h.name} is deploying without a deployment; deploy it (kiln host deploy)`);
        if (d.stateless) return statelessScript(i, d);
        if (d.status === 'installed' || d.status === 'complete')
          return scriptOf('first-boot', `${h.name}: installed, booting from local disk`, (t) =>
            formatLocalBootScript(t, i.query.platform),
          );
        return specScript(i, d, 'install', `${h.name}: installing profile ${d.profile}`);
      }
      case 'failed':
        return waitScript(
          i,
          `${h.name} failed${h.failedStage ? ` at ${h.failedStage}` : ''}: ${h.stateReason ?? 'no reason given'}; fix it and move the host on (kiln host state)`,
        );
      case 'deployed':
        if (i.deployment?.stateless) return statelessScript(i, i.deployment);
        return scriptOf('local', `${h.name} is ${h.state}: booting from local disk`, (t) =>
          formatLocalBootScript(t, i.query.platform),
        );
      case 'ready':
      case 'retired':
        return scriptOf('local', `${h.name} is ${h.state}: booting from local disk`, (t) =>
          formatLocalBootScript(t, i.query.platform),
        );
    }
  } catch (err) {
    if (err instanceof IpxeScriptError) return waitScript(i, `${h.name}: cannot build a boot script: ${err.message}`);
    throw err;
  }
}

/**
 * Rendered per-host scripts, keyed by everything a script depends on: the
 * host's id and version (every change of the host bumps it), the
 * deployment's id and status, the firmware's platform and arch, the node
 * image (its arch and version) and the URLs. A fetch whose inputs did not change gets the same text
 * without formatting it again; least recently used out past `max` entries.
 * The boot spec inside a deployment is frozen when it is deployed (its
 * templates were rendered then, in the render worker), so a profile edit
 * never changes a cached script: redeploying does, through the new deployment
 * id. A hit does no per-fetch work on the deployment: its placeholders
 * (install token, boot session) are filled on a miss.
 */
export function createHostScriptCache(
  opts: {
    max?: number;
    /**
     * Fills a deployment's boot spec for one boot (the install token, an HMAC of the deployment id, and the
     * boot session), on a miss only: both are functions of what the key holds (the deployment id, the session).
     */
    fillDeployment?: (d: BootDeployment, session: string | null) => BootDeployment;
  } = {},
) {
  const max = opts.max ?? 10_000;
  const fill = opts.fillDeployment ?? ((d: BootDeployment) => d);
  const entries = new Map<string, HostScript>();
  // Joined by a newline: no part holds one (ids, a status, a sanitised arch, URLs, kernel arguments), and the
  // retry URL (which holds the query) is URL-encoded.
  const keyOf = (i: HostScriptInput): string =>
    `${i.host.id}\n${i.host.version}\n${i.deployment?.id ?? ''}\n${i.deployment?.status ?? ''}\n${i.deployment?.stateless ? 's' : ''}\n${i.query.platform}\n${i.query.arch}\n${i.baseUrl}\n${i.baseUrls?.join(' ') ?? ''}\n${i.knownBaseUrls?.join(' ') ?? ''}\n${i.nodeImage?.arch ?? ''}\n${i.nodeImage?.version ?? ''}\n${i.retry.url}\n${i.retry.alternates?.join(' ') ?? ''}\n${i.retry.delaySeconds}\n${i.nodeImageArgs}\n${i.session ?? ''}`;
  return {
    render(i: HostScriptInput): HostScript {
      const key = keyOf(i);
      const hit = entries.get(key);
      if (hit !== undefined) {
        entries.delete(key);
        entries.set(key, hit);
        return hit;
      }
      const script = renderHostScript(i.deployment ? { ...i, deployment: fill(i.deployment, i.session ?? null) } : i);
      entries.set(key, script);
      if (entries.size > max) entries.delete(entries.keys().next().value!);
      return script;
    },
    size: () => entries.size,
  };
}
