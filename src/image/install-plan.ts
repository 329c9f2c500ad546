import { KilnError } from '../error/kiln-error.js';
import type { Host } from '../inventory/host.js';
import { MACHINE_PLAN_FILE, type MachinePlan } from '../machine/plan-machine.js';
import type { OsImage } from './image-store.js';
import type { SquashfsRoot } from './squashfs-root.js';
import { INSTALL_VIEWS, type InstallView } from './objects/install-views.js';

/**
 * Partition layouts the image writer (node/agent/install.sh) really writes:
 * `single` is one root filesystem on one disk; `machine` is the profile's
 * machine description (docs/machine-description.md), checked against the
 * host's facts and rendered at deploy time; `ab` is two root filesystems, a
 * deploy writes the one not booting and GRUB falls back to the other when the
 * new one does not pass its health check (docs/ab-roots.md).
 */
export const imageLayouts = ['single', 'machine', 'ab'] as const;
/** A layout the writer implements. */
export type ImageLayout = (typeof imageLayouts)[number];

/**
 * How the writer starts the installed system once it is written: `reboot`
 * through the firmware (GRUB from the disk, as every later boot), or `kexec`
 * straight into the kernel, initrd and command line of grub.cfg's entry
 * (node/agent/kexec.sh), skipping the firmware's POST; the writer falls back
 * to `reboot` when kexec cannot load it and reports the path it took.
 */
export type InstallHandoff = 'reboot' | 'kexec';

/** What Kiln's image writer reads (node/agent/install.sh; docs/discovery.md). */
export interface InstallPlan {
  image: {
    url: string;
    sha256: string;
    format: OsImage['format'];
    /** The image id (SHA-256 of its manifest), written to /etc/kiln/image-id for `kiln host verify`. */
    manifest?: string;
    /**
     * The image as objects, when it was imported with its install views: the
     * writer then reuses objects found on the machine's Kiln filesystems and
     * fetches only the rest (node/agent/objects.sh); absent, it streams `url`.
     */
    objects?: ImageObjectsPlan;
  };
  disk: string;
  firmware: 'bios' | 'uefi';
  /** `stateless`: nothing is written but the identity partition; the node runs the image from RAM (node/agent/stateless.sh). */
  layout: ImageLayout | 'stateless';
  hostname: string;
  /** With layout `stateless`: the image's squashfs root, which the node checks against `sha256` before mounting it. */
  stateless?: { squashfs: { url: string; sha256: string; sizeBytes: number } };
  /** `machine`: the network comes from `machine.network` (rendered for systemd-networkd, ifupdown and NetworkManager). */
  network: { mode: 'dhcp' | 'machine' };
  /** With layout `ab`: boots a new slot gets before GRUB falls back, and seconds it has to pass its health check. */
  ab?: { tries: number; healthSeconds: number };
  /** With layout `machine`: the deployment's machine plan (storage steps, mounts, fstab, the network for each stack). */
  machine?: MachinePlan;
  /**
   * Where the writer's late step fetches secrets and the SSH host certificate
   * with its node credential: the API base URL (HTTPS unless TLS is off) and
   * the CA certificate that verifies it (public; no secret is in a plan). `urls`: every healthy member's API URL,
   * `url` first, tried in turn when one gives no answer; `caPem` holds every member's CA.
   */
  api: { url: string; urls?: string[]; caPem: string };
  /**
   * Every healthy member's base URL (plain HTTP), this one's first: the writer fetches the image, its views and
   * objects (all URLs under this one's) from the next when one gives no answer. Absent with one member.
   */
  baseUrls?: string[];
  /** Kiln's syslog receiver, for the installed system's forwarding rule (late.sh late_syslog); absent when syslog is off. */
  syslog?: { host: string; port: number };
  /** How the writer starts the installed system (the profile's `image.handoff`, default `reboot`). */
  handoff: InstallHandoff;
}

/** Where the writer fetches an image's objects and views, and what each view hashes to. */
export interface ImageObjectsPlan {
  /** The image id (SHA-256 of the manifest). */
  manifest: string;
  /** GET <objectsUrl>/<id> for one object, POST <objectsUrl>/pack for many. */
  objectsUrl: string;
  views: Record<InstallView, { url: string; sha256: string }>;
}

function objectsPlan(image: OsImage, baseUrl: string): ImageObjectsPlan | undefined {
  const id = image.manifest;
  const views = image.views;
  if (id === undefined || views === undefined || INSTALL_VIEWS.some((v) => views[v] === undefined)) return undefined;
  const base = `${baseUrl.replace(/\/$/, '')}/images`;
  const out = {} as Record<InstallView, { url: string; sha256: string }>;
  for (const v of INSTALL_VIEWS) out[v] = { url: `${base}/manifests/${id}/${v}`, sha256: views[v]! };
  return { manifest: id, objectsUrl: `${base}/objects`, views: out };
}

/** The controller's addresses as nodes reach them: plain HTTP for images, the API and its CA for the late step. */
export interface InstallPlanUrls {
  baseUrl: string;
  apiUrl: string;
  caPem: string;
  /** Every healthy member's base URL and API URL, this one's first (several members on one store). */
  baseUrls?: readonly string[];
  apiUrls?: readonly string[];
  /** Kiln's syslog receiver as nodes reach it; absent when syslog is off. */
  syslog?: { host: string; port: number };
}

/** `own` then every other of `all` (no trailing slash, each once), or undefined when that is `own` alone. */
function several(own: string, all: readonly string[] | undefined): string[] | undefined {
  const list = [...new Set([own, ...(all ?? [])].map((u) => u.replace(/\/$/, '')))];
  return list.length > 1 ? list : undefined;
}

/** Layout ab's settings from a deployment's image spec, defaults (3 tries, 300 s) where absent. */
function abSettings(v: unknown): { tries: number; healthSeconds: number } {
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const int = (x: unknown, d: number) => (typeof x === 'number' && Number.isInteger(x) ? x : d);
  return { tries: int(o['tries'], 3), healthSeconds: int(o['healthSeconds'], 300) };
}

/** A spec field as text: `fallback` when absent, a scalar as String() writes it, anything else as JSON. */
function textOr(v: unknown, fallback: string): string {
  if (v === null || v === undefined) return fallback;
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

/**
 * Builds the writer's plan from a deployment's image spec, the image store
 * and the host. Pure. A missing image or a layout the writer does not
 * implement (a deployment rendered before layouts were checked) is a clear
 * error for the node, which reports it as a failed stage.
 */
export function buildInstallPlan(
  spec: Record<string, unknown>,
  image: OsImage | null,
  host: Host,
  urls: InstallPlanUrls,
  files: Record<string, string> = {},
  squashfs?: SquashfsRoot,
): InstallPlan {
  const name = textOr(spec['name'], '');
  if (!image)
    throw new KilnError(
      'not_found',
      `image ${name} is not in the controller's image store; add it with \`kiln image add ${name} FILE\``,
    );
  const layout = textOr(spec['layout'], 'single');
  if (!(imageLayouts as readonly string[]).includes(layout)) {
    throw new KilnError(
      'validation_failed',
      `layout "${layout}" is not implemented by the image writer (only ${imageLayouts.join(', ')}); fix the profile and deploy again`,
    );
  }
  const disk = textOr(spec['disk'], 'auto');
  const stateless = spec['stateless'] === true;
  if (stateless && !squashfs)
    throw new KilnError('internal', `the squashfs root of image ${name} was not built; the node asks again`);
  let machine: MachinePlan | undefined;
  if (layout === 'machine') {
    const text = files[MACHINE_PLAN_FILE];
    if (text === undefined)
      throw new KilnError(
        'validation_failed',
        `layout "machine" but the deployment keeps no ${MACHINE_PLAN_FILE} (rendered before machine descriptions); deploy the host again`,
      );
    machine = JSON.parse(text) as MachinePlan;
  }
  return {
    image: {
      url: `${urls.baseUrl.replace(/\/$/, '')}/images/${encodeURIComponent(image.file)}`,
      sha256: image.sha256,
      format: image.format,
      ...(image.manifest ? { manifest: image.manifest } : {}),
      ...(objectsPlan(image, urls.baseUrl) ? { objects: objectsPlan(image, urls.baseUrl) } : {}),
    },
    disk: disk === 'largest' ? 'auto' : disk,
    firmware: spec['firmware'] === 'uefi' || spec['firmware'] === 'bios' ? spec['firmware'] : (host.firmware ?? 'bios'),
    layout: stateless ? 'stateless' : (layout as ImageLayout),
    ...(stateless && squashfs
      ? {
          stateless: {
            squashfs: {
              url: `${urls.baseUrl.replace(/\/$/, '')}/images/${squashfs.file}`,
              sha256: squashfs.sha256,
              sizeBytes: squashfs.sizeBytes,
            },
          },
        }
      : {}),
    hostname: host.name.split('.')[0],
    network: { mode: machine?.network ? 'machine' : 'dhcp' },
    ...(machine ? { machine } : {}),
    ...(layout === 'ab' ? { ab: abSettings(spec['ab']) } : {}),
    api: {
      url: urls.apiUrl.replace(/\/$/, ''),
      ...(several(urls.apiUrl, urls.apiUrls) ? { urls: several(urls.apiUrl, urls.apiUrls) } : {}),
      caPem: urls.caPem,
    },
    ...(several(urls.baseUrl, urls.baseUrls) ? { baseUrls: several(urls.baseUrl, urls.baseUrls) } : {}),
    ...(urls.syslog ? { syslog: { ...urls.syslog } } : {}),
    handoff: spec['handoff'] === 'kexec' ? 'kexec' : 'reboot',
  };
}
