import { KilnError } from '../error/kiln-error.js';
import type { CompiledFile, LoadedProfile } from './loaded-profile.js';
import type { RenderContext } from '../template/render-context.js';
import { renderTemplate, type OutputBudget } from '../template/sandbox.js';
import { toTemplateError } from '../template/template-error.js';

/** The rendered text of one compiled template (already rendered by the render worker, or rendered on demand on this thread). */
export type RenderedText = (file: CompiledFile) => string;

/**
 * Renders one compiled template on the calling thread; any failure is a
 * template_error naming file and line. The controller renders in its render
 * worker (render-pool.ts) instead; this is for the worker itself and tests.
 */
export function renderCompiled(
  profile: LoadedProfile,
  file: CompiledFile,
  context: RenderContext,
  budget?: OutputBudget,
): string {
  try {
    return renderTemplate(profile.sandbox, file.templates, context, budget);
  } catch (err) {
    throw toTemplateError(err, file.virtualPath, profile.locate);
  }
}

/** A RenderedText that renders on this thread. */
export function inThread(profile: LoadedProfile, context: RenderContext, budget?: OutputBudget): RenderedText {
  return (file) => renderCompiled(profile, file, context, budget);
}

/** The compiled template of install file `fileName`; throws not_found for a name the profile does not list. */
export function profileFile(profile: LoadedProfile, fileName: string): CompiledFile {
  const file = profile.files.get(fileName);
  if (file === undefined) {
    throw new KilnError(
      'not_found',
      `profile ${profile.name} has no install file "${fileName}"; it has ${[...profile.files.keys()].join(', ')}`,
    );
  }
  return file;
}

/**
 * Renders the install file served as `fileName` (e.g. `preseed.cfg`) for the
 * host in `context`, on this thread. Pure: same inputs, same text; never
 * reads the disk. Throws not_found for a name the profile does not list,
 * template_error for a render failure (missing variable, limit exceeded).
 */
export function renderProfileFile(profile: LoadedProfile, fileName: string, context: RenderContext): string {
  return renderCompiled(profile, profileFile(profile, fileName), context);
}
