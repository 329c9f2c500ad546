import { KilnError } from '../error/kiln-error.js';
import type { CompiledFile, LoadedProfile } from '../profile/loaded-profile.js';
import type { RenderContext } from './render-context.js';
import { renderTemplate } from './sandbox.js';
import { toTemplateError } from './template-error.js';

/** Renders one compiled template; any failure is a template_error naming file and line. */
export function renderCompiled(profile: LoadedProfile, file: CompiledFile, context: RenderContext): string {
  try {
    return renderTemplate(profile.sandbox, file.templates, context);
  } catch (err) {
    throw toTemplateError(err, file.virtualPath, profile.locate);
  }
}

/**
 * Renders the install file served as `fileName` (e.g. `preseed.cfg`) for the
 * host in `context`. Pure: same inputs, same text; never reads the disk.
 * Throws not_found for a name the profile does not list, template_error for
 * a render failure (missing variable, limit exceeded).
 */
export function renderProfileFile(profile: LoadedProfile, fileName: string, context: RenderContext): string {
  const file = profile.files.get(fileName);
  if (file === undefined) {
    throw new KilnError('not_found', `profile ${profile.name} has no install file "${fileName}"; it has ${[...profile.files.keys()].join(', ')}`);
  }
  return renderCompiled(profile, file, context);
}
