import { KilnError } from '../error/kiln-error.js';
import type { ImageLayout, InstallHandoff } from '../image/install-plan.js';
import type { LoadedProfile } from './loaded-profile.js';
import type { RenderContext } from '../template/render-context.js';
import { inThread, type RenderedText } from './render-profile-file.js';

/**
 * What Kiln's image writer installs for a `kiln-image` profile: the image
 * name (or URL), the target disk, the firmware mode and the partition layout
 * (validated at load time; absent means `single`). `firmware: 'auto'` in the
 * profile resolves to the host's firmware.
 */
export interface ImageSpec {
  name: string;
  url: string | undefined;
  disk: string;
  firmware: 'bios' | 'uefi';
  layout: ImageLayout;
  /** With layout `machine`: the install file holding the machine description. */
  machine?: string;
  /** How the writer starts the installed system (absent: `reboot`). */
  handoff?: InstallHandoff;
  /** Diskless: the node runs the image's squashfs root from RAM (docs/stateless.md). */
  stateless?: true;
  /** With layout `ab`: boots a new slot gets (1..9) and seconds to pass its health check; defaults filled in. */
  ab?: { tries: number; healthSeconds: number };
}

/** Layout ab's defaults: boots a new slot gets, and seconds to pass its local health check. */
export const abDefaults = { tries: 3, healthSeconds: 300 } as const;

/** Builds the `image:` section for one host from its rendered fields; throws not_found when the profile has none. Pure. */
export function imageSpecFrom(profile: LoadedProfile, hostFirmware: 'bios' | 'uefi', text: RenderedText): ImageSpec {
  const image = profile.image;
  const spec = profile.spec.image;
  if (image === undefined || spec === undefined)
    throw new KilnError('not_found', `profile ${profile.name} has no image: section`);
  const firmware = text(image.firmware).trim();
  const resolved = firmware === 'auto' ? hostFirmware : firmware;
  if (resolved !== 'bios' && resolved !== 'uefi') {
    const where = profile.locate(image.firmware.virtualPath, 1, 1);
    throw new KilnError('template_error', `${where}: firmware "${firmware}" must be bios, uefi or auto`, {
      issues: [{ path: where, code: 'bad_value', message: 'firmware must be bios, uefi or auto' }],
    });
  }
  return {
    name: text(image.name).trim(),
    url: image.url === undefined ? undefined : text(image.url).trim(),
    disk: text(image.disk).trim(),
    firmware: resolved,
    layout: (spec.layout ?? 'single') as ImageLayout,
    ...(spec.machine !== undefined ? { machine: spec.machine } : {}),
    ...(spec.handoff !== undefined ? { handoff: spec.handoff } : {}),
    ...(spec.stateless === true ? { stateless: true as const } : {}),
    ...(spec.layout === 'ab' ? { ab: { ...abDefaults, ...spec.ab } } : {}),
  };
}

/** Renders the `image:` section for one host on this thread (tests, golden files). */
export function renderImageSpec(profile: LoadedProfile, context: RenderContext): ImageSpec {
  return imageSpecFrom(profile, context.host.firmware, inThread(profile, context));
}

/** The virtual paths of the image fields (none without an image: section). */
export function imageSpecPaths(profile: LoadedProfile): string[] {
  const i = profile.image;
  return i ? [i.firmware, i.name, ...(i.url ? [i.url] : []), i.disk].map((f) => f.virtualPath) : [];
}
