import { KilnError } from '../error/kiln-error.js';
import type { ImageLayout } from '../image/install-plan.js';
import type { LoadedProfile } from '../profile/loaded-profile.js';
import type { RenderContext } from './render-context.js';
import { renderCompiled } from './render-profile-file.js';

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
}

/** Renders the `image:` section for one host; throws not_found when the profile has none. Pure. */
export function renderImageSpec(profile: LoadedProfile, context: RenderContext): ImageSpec {
  const image = profile.image;
  const spec = profile.spec.image;
  if (image === undefined || spec === undefined) throw new KilnError('not_found', `profile ${profile.name} has no image: section`);
  const firmware = renderCompiled(profile, image.firmware, context).trim();
  const resolved = firmware === 'auto' ? context.host.firmware : firmware;
  if (resolved !== 'bios' && resolved !== 'uefi') {
    const where = profile.locate(image.firmware.virtualPath, 1, 1);
    throw new KilnError('template_error', `${where}: firmware "${firmware}" must be bios, uefi or auto`, { issues: [{ path: where, code: 'bad_value', message: 'firmware must be bios, uefi or auto' }] });
  }
  return {
    name: renderCompiled(profile, image.name, context).trim(),
    url: image.url === undefined ? undefined : renderCompiled(profile, image.url, context).trim(),
    disk: renderCompiled(profile, image.disk, context).trim(),
    firmware: resolved,
    layout: (spec.layout ?? 'single') as ImageLayout,
  };
}
