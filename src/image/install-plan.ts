import { KilnError } from '../error/kiln-error.js';
import type { Host } from '../inventory/host.js';
import type { OsImage } from './image-store.js';

/** What Kiln's image writer reads (node/agent/install.sh; docs/discovery.md). */
export interface InstallPlan {
  image: { url: string; sha256: string; format: OsImage['format'] };
  disk: string;
  firmware: 'bios' | 'uefi';
  hostname: string;
  network: { mode: 'dhcp' };
}

/**
 * Builds the writer's plan from a deployment's image spec, the image store
 * and the host. Pure. A missing image is a clear error for the node, which
 * reports it as a failed stage.
 */
export function buildInstallPlan(spec: Record<string, unknown>, image: OsImage | null, host: Host, baseUrl: string): InstallPlan {
  const name = String(spec['name'] ?? '');
  if (!image) throw new KilnError('not_found', `image ${name} is not in the controller's image store; add it with \`kiln image add ${name} FILE\``);
  const disk = String(spec['disk'] ?? 'auto');
  return {
    image: { url: `${baseUrl.replace(/\/$/, '')}/images/${encodeURIComponent(image.file)}`, sha256: image.sha256, format: image.format },
    disk: disk === 'largest' ? 'auto' : disk,
    firmware: spec['firmware'] === 'uefi' || spec['firmware'] === 'bios' ? spec['firmware'] : (host.firmware ?? 'bios'),
    hostname: host.name.split('.')[0]!,
    network: { mode: 'dhcp' },
  };
}
