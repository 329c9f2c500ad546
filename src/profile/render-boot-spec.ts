import { KilnError } from '../error/kiln-error.js';
import type { CompiledFile, LoadedProfile } from './loaded-profile.js';
import { ipxeArgs, ipxeUrl, IpxeScriptError } from '../protocols/ipxe/script.js';
import type { RenderContext } from '../template/render-context.js';
import { inThread, type RenderedText } from './render-profile-file.js';

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

/** A template_error for a boot field that iPXE could not take as literal words. */
function notForIpxe(profile: LoadedProfile, file: CompiledFile, err: IpxeScriptError): KilnError {
  const where = profile.locate(file.virtualPath, 1, 1);
  return new KilnError('template_error', `${where}: ${err.message}`, {
    issues: [{ path: where, code: 'ipxe_unsafe', message: err.message }],
  });
}

/** Turns a rendered kernel/initrd field into a URL, resolving profile-local paths. */
function bootFileUrl(profile: LoadedProfile, file: CompiledFile, baseUrl: string, text: RenderedText): string {
  const value = text(file).trim();
  if (/^https?:\/\/[^\s]+$/.test(value)) {
    try {
      return ipxeUrl('boot file URL', value);
    } catch (err) {
      throw err instanceof IpxeScriptError ? notForIpxe(profile, file, err) : err;
    }
  }
  const where = profile.locate(file.virtualPath, 1, 1);
  if (/\s/.test(value) || value.startsWith('/') || value.split('/').includes('..') || !profile.bootFiles.has(value)) {
    throw new KilnError(
      'template_error',
      `${where}: boot file "${value}" is neither an http(s) URL nor a file in ${profile.displayDir}`,
      {
        issues: [
          {
            path: where,
            code: 'boot_file_not_found',
            message: `"${value}" is not an http(s) URL or a file in the profile directory`,
          },
        ],
      },
    );
  }
  return profileBootFileUrl(baseUrl, profile.name, value);
}

/**
 * Builds the boot spec from the rendered boot fields (`text`: the render
 * worker's output, or an in-thread render in tests). The command line is
 * trimmed, inner runs of spaces are collapsed, and a newline or other control
 * character in it is a template_error (a kernel command line is one line), as
 * is anything iPXE would not pass to the kernel literally (a word `&&`, `||`,
 * `;`, `#…`, or `${`).
 */
export function bootSpecFrom(profile: LoadedProfile, baseUrl: string, text: RenderedText): BootSpec {
  const raw = text(profile.boot.cmdline).trim();
  // eslint-disable-next-line no-control-regex -- refusing control characters means naming them.
  const bad = /[\u0000-\u001f\u007f]/.exec(raw);
  if (bad) {
    const where = profile.locate(profile.boot.cmdline.virtualPath, 1, 1);
    const what =
      bad[0] === '\n' ? 'a newline' : `control character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')}`;
    throw new KilnError('template_error', `${where}: kernel command line contains ${what}`, {
      issues: [{ path: where, code: 'cmdline_newline', message: `the rendered kernel command line contains ${what}` }],
    });
  }
  const cmdline = raw.replace(/ {2,}/g, ' ');
  try {
    ipxeArgs('kernel command line', cmdline);
  } catch (err) {
    throw err instanceof IpxeScriptError ? notForIpxe(profile, profile.boot.cmdline, err) : err;
  }
  return {
    kernel: bootFileUrl(profile, profile.boot.kernel, baseUrl, text),
    initrd: profile.boot.initrd.map((f) => bootFileUrl(profile, f, baseUrl, text)),
    cmdline,
  };
}

/** Renders the profile's boot section for one host on this thread (tests, golden files). */
export function renderBootSpec(profile: LoadedProfile, context: RenderContext): BootSpec {
  return bootSpecFrom(profile, context.kiln.baseUrl, inThread(profile, context));
}

/** The virtual paths of the boot fields, in the order `bootSpecFrom` reads them. */
export function bootSpecPaths(profile: LoadedProfile): string[] {
  return [profile.boot.cmdline, profile.boot.kernel, ...profile.boot.initrd].map((f) => f.virtualPath);
}
