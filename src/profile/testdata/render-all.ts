import type { LoadedProfile } from '../loaded-profile.js';
import { renderBootSpec } from '../render-boot-spec.js';
import { renderImageSpec } from '../render-image-spec.js';
import { renderProfileFile } from '../render-profile-file.js';
import { sampleContext } from './sample-context.js';

/** Per-profile variable values the sample host gets (kiln-image needs an image name). */
export const overrides: Record<string, Record<string, unknown>> = {
  'kiln-image': { imageName: 'debian-12-base' },
  'kiln-image-stateless': { imageName: 'debian-12-base' },
};

/** Every rendered artefact of a profile for the sample host: file name → text. */
export function renderAll(p: LoadedProfile): Map<string, string> {
  const ctx = sampleContext(p, overrides[p.name]);
  const out = new Map<string, string>();
  out.set('boot.json', `${JSON.stringify(renderBootSpec(p, ctx), null, 2)}\n`);
  if (p.image) out.set('image.json', `${JSON.stringify(renderImageSpec(p, ctx), null, 2)}\n`);
  for (const name of p.files.keys()) out.set(name, renderProfileFile(p, name, ctx));
  return out;
}

