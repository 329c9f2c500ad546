import { KilnError } from '../error/kiln-error.js';
import type { CompiledFile, LoadedProfile } from '../profile/loaded-profile.js';
import type { RenderContext } from './render-context.js';
import { renderCompiled } from './render-profile-file.js';

/**
 * What a host boots for an install: absolute URLs of the kernel and initrds
 * and a one-line kernel command line. A profile-local boot file becomes
 * `<kiln.baseUrl>/boot/profiles/<profile>/<path>` (the controller serves it
 * from `LoadedProfile.dir`).
 */
export interface BootSpec {
  kernel: string;
  initrd: string[];
  cmdline: string;
}

/** The URL path under `kiln.baseUrl` where a profile's own boot files are served. */
export function profileBootFileUrl(baseUrl: string, profileName: string, relPath: string): string {
  return `${baseUrl.replace(/\/$/, '')}/boot/profiles/${encodeURIComponent(profileName)}/${relPath.split('/').map(encodeURIComponent).join('/')}`;
}

/** Renders a kernel/initrd field to a URL, resolving profile-local paths. */
function renderBootFile(profile: LoadedProfile, file: CompiledFile, context: RenderContext): string {
  const value = renderCompiled(profile, file, context).trim();
  if (/^https?:\/\/[^\s]+$/.test(value)) return value;
  const where = profile.locate(file.virtualPath, 1, 1);
  if (/\s/.test(value) || value.startsWith('/') || value.split('/').includes('..') || !profile.bootFiles.has(value)) {
    throw new KilnError('template_error', `${where}: boot file "${value}" is neither an http(s) URL nor a file in ${profile.displayDir}`, {
      issues: [{ path: where, code: 'boot_file_not_found', message: `"${value}" is not an http(s) URL or a file in the profile directory` }],
    });
  }
  return profileBootFileUrl(context.kiln.baseUrl, profile.name, value);
}

/**
 * Renders the profile's boot section for one host. Pure. The command line is
 * trimmed, inner runs of spaces are collapsed, and a newline or other control
 * character in it is a template_error (a kernel command line is one line).
 */
export function renderBootSpec(profile: LoadedProfile, context: RenderContext): BootSpec {
  const raw = renderCompiled(profile, profile.boot.cmdline, context).trim();
  const bad = /[\u0000-\u001f\u007f]/.exec(raw);
  if (bad) {
    const where = profile.locate(profile.boot.cmdline.virtualPath, 1, 1);
    const what = bad[0] === '\n' ? 'a newline' : `control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')}`;
    throw new KilnError('template_error', `${where}: kernel command line contains ${what}`, {
      issues: [{ path: where, code: 'cmdline_newline', message: `the rendered kernel command line contains ${what}` }],
    });
  }
  return {
    kernel: renderBootFile(profile, profile.boot.kernel, context),
    initrd: profile.boot.initrd.map((f) => renderBootFile(profile, f, context)),
    cmdline: raw.replace(/ {2,}/g, ' '),
  };
}
