import { KilnError } from '../error/kiln-error.js';
import type { Host } from '../inventory/host.js';
import type { OsImage } from './image-store.js';

/**
 * Partition layouts the image writer (node/agent/install.sh) really writes:
 * `single` is one root filesystem. A/B roots with rollback are not yet built,
 * so a profile that asks for them is refused at validation.
 */
export const imageLayouts = ['single'] as const;
/** A layout the writer implements. */
export type ImageLayout = (typeof imageLayouts)[number];

/** What Kiln's image writer reads (node/agent/install.sh; docs/discovery.md). */
export interface InstallPlan {
  image: { url: string; sha256: string; format: OsImage['format'] };
  disk: string;
  firmware: 'bios' | 'uefi';
  layout: ImageLayout;
  hostname: string;
  network: { mode: 'dhcp' };
  /**
   * Where the writer's late step fetches secrets and the SSH host certificate
   * with its node credential: the API base URL (HTTPS unless TLS is off) and
   * the CA certificate that verifies it (public; no secret is in a plan).
   */
  api: { url: string; caPem: string };
}

/** The controller's addresses as nodes reach them: plain HTTP for images, the API and its CA for the late step. */
export interface InstallPlanUrls {
  baseUrl: string;
  apiUrl: string;
  caPem: string;
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
  return {
    image: {
      url: `${urls.baseUrl.replace(/\/$/, '')}/images/${encodeURIComponent(image.file)}`,
      sha256: image.sha256,
      format: image.format,
    },
    disk: disk === 'largest' ? 'auto' : disk,
    firmware: spec['firmware'] === 'uefi' || spec['firmware'] === 'bios' ? spec['firmware'] : (host.firmware ?? 'bios'),
    layout: layout as ImageLayout,
    hostname: host.name.split('.')[0],
    network: { mode: 'dhcp' },
    api: { url: urls.apiUrl.replace(/\/$/, ''), caPem: urls.caPem },
  };
}
