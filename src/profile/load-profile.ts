import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { Template } from 'liquidjs';
import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import { imageLayouts } from '../image/install-plan.js';
import { silentLogger, type Logger } from '../log/logger.js';
import { checkPartials, checkVariables } from '../template/check-template.js';
import {
  createSandbox,
  parseTemplate,
  virtualDirs,
  type RenderLimits,
  defaultRenderLimits,
} from '../template/sandbox.js';
import { templateIssue, type LocateFn } from '../template/template-error.js';
import type { CompiledFile, LoadedProfile } from './loaded-profile.js';
import { parseProfileYaml, type ParsedProfileYaml } from './parse-profile-yaml.js';
import type { ProfileSpec } from './profile-schema.js';
import { readProfileDir } from './read-profile-dir.js';

/** Shared snippets from `profiles/_snippets/`, read once for all profiles. */
export interface SharedSnippets {
  /** Snippet name → text. */
  texts: ReadonlyMap<string, string>;
  /** How the directory is shown in messages, e.g. `profiles/_snippets`. */
  displayDir: string;
}

/** Options of `loadProfile`. */
export interface LoadProfileOptions {
  shared?: SharedSnippets;
  /** Defaults to `<parent dir name>/<profile dir name>`. */
  displayDir?: string;
  limits?: RenderLimits;
  log?: Logger;
}

const inlinePrefix = `${virtualDirs.inline}/`;

/** Builds the virtual-path → `file:line:col` mapper for one profile. */
function makeLocate(displayDir: string, shared: SharedSnippets, yaml: ParsedProfileYaml): LocateFn {
  return (virtualPath, line, col) => {
    const p = virtualPath ?? '';
    if (p.startsWith(inlinePrefix)) {
      const at = yaml.locate(p.slice(inlinePrefix.length - 1));
      return line <= 1
        ? `${at.path.replace(/:\d+:\d+$/, '')}:${at.line}:${at.col + col - 1}`
        : `${at.path.replace(/:\d+:\d+$/, '')}:${at.line + line - 1}:${col}`;
    }
    if (p.startsWith(`${virtualDirs.sharedSnippets}/`))
      return `${shared.displayDir}/${p.slice(virtualDirs.sharedSnippets.length + 1)}:${line}:${col}`;
    return `${displayDir}/${p.replace(/^\//, '')}:${line}:${col}`;
  };
}

/** The Liquid strings of profile.yaml by JSON pointer (boot and image fields). */
function inlineTemplates(spec: ProfileSpec): Map<string, string> {
  const out = new Map<string, string>([
    ['/boot/kernel', spec.boot.kernel],
    ['/boot/cmdline', spec.boot.cmdline],
  ]);
  spec.boot.initrd.forEach((t, i) => out.set(`/boot/initrd/${i}`, t));
  if (spec.image) {
    out.set('/image/name', spec.image.name);
    out.set('/image/disk', spec.image.disk);
    out.set('/image/firmware', spec.image.firmware);
    if (spec.image.url !== undefined) out.set('/image/url', spec.image.url);
  }
  return out;
}

/** Cross-field checks of a schema-valid spec. */
function checkSpec(
  spec: ProfileSpec,
  dirName: string,
  yaml: ParsedProfileYaml,
  texts: ReadonlyMap<string, string>,
): ErrorIssue[] {
  const issues: ErrorIssue[] = [];
  if (spec.name !== dirName)
    issues.push({
      path: yaml.locate('/name').path,
      code: 'name_mismatch',
      message: `name "${spec.name}" must equal the directory name "${dirName}"`,
    });
  const names = new Set<string>();
  spec.files.forEach((f, i) => {
    if (names.has(f.name))
      issues.push({
        path: yaml.locate(`/files/${i}/name`).path,
        code: 'duplicate_file',
        message: `install file "${f.name}" is listed twice`,
      });
    names.add(f.name);
    if (!texts.has(f.template))
      issues.push({
        path: yaml.locate(`/files/${i}/template`).path,
        code: 'template_not_found',
        message: `template file "${f.template}" does not exist in the profile directory`,
      });
  });
  if (spec.install.method === 'kiln-image' && spec.image === undefined)
    issues.push({
      path: yaml.locate('/install').path,
      code: 'missing_key',
      message: 'install method kiln-image needs an image: section',
    });
  if (spec.install.method !== 'kiln-image' && spec.image !== undefined)
    issues.push({
      path: yaml.locate('/image').path,
      code: 'unexpected_key',
      message: 'image: is only used by install method kiln-image',
    });
  if (spec.image?.url !== undefined) {
    // The writer checks every image against the sha256 the store recorded; a bare URL has none.
    issues.push({
      path: yaml.locate('/image/url').path,
      code: 'not_implemented',
      message:
        'image.url is not yet supported by the image writer: add the image to the controller with `kiln image add NAME FILE` and set image.name',
    });
  }
  const layout = spec.image?.layout;
  if (layout !== undefined && !(imageLayouts as readonly string[]).includes(layout)) {
    // Only what node/agent/install.sh really writes is accepted.
    issues.push({
      path: yaml.locate('/image/layout').path,
      code: 'not_implemented',
      message: `layout "${layout}" is not implemented by the image writer; use ${imageLayouts.map((l) => `"${l}"`).join(' or ')}`,
    });
  }
  if (layout === 'machine' && spec.image?.machine === undefined)
    issues.push({
      path: yaml.locate('/image/layout').path,
      code: 'missing_key',
      message: 'layout "machine" needs image.machine: the install file holding the machine description',
    });
  if (spec.image?.ab !== undefined && layout !== 'ab')
    issues.push({
      path: yaml.locate('/image/ab').path,
      code: 'unexpected_key',
      message: 'image.ab is only read with layout: ab',
    });
  if (spec.image?.machine !== undefined && layout !== 'machine')
    issues.push({
      path: yaml.locate('/image/machine').path,
      code: 'unexpected_key',
      message: 'image.machine is only read with layout: machine',
    });
  if (spec.image?.stateless === true && layout === 'machine')
    // A stateless host keeps only its identity partition on disk; a machine description lays out disks it would not use.
    issues.push({
      path: yaml.locate('/image/stateless').path,
      code: 'unexpected_key',
      message: 'image.stateless runs the image from RAM and writes no root filesystem; it cannot take layout: machine',
    });
  if (spec.image?.machine !== undefined && !spec.files.some((f) => f.name === spec.image?.machine))
    issues.push({
      path: yaml.locate('/image/machine').path,
      code: 'template_not_found',
      message: `image.machine names "${spec.image.machine}", which is none of this profile's files: (${spec.files.map((f) => f.name).join(', ') || 'none'})`,
    });
  for (const v of Object.keys(spec.variables ?? {})) {
    if (['name', 'os', 'arch', 'installMethod'].includes(v))
      issues.push({
        path: yaml.locate(`/variables/${v}`).path,
        code: 'reserved_variable',
        message: `variable "${v}" clashes with profile.${v}`,
      });
  }
  return issues;
}

/** SHA-256 over the virtual files in path order (length-prefixed, so no two maps collide). */
function digestOf(files: ReadonlyMap<string, string>): string {
  const h = createHash('sha256');
  for (const [path, text] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    h.update(`${Buffer.byteLength(path)}:${path}${Buffer.byteLength(text)}:`).update(text);
  }
  return h.digest('hex');
}

/** Throws profile_invalid carrying every issue, or returns when there are none. */
function assertNoIssues(name: string, issues: ErrorIssue[]): void {
  if (issues.length === 0) return;
  const first = issues[0];
  throw new KilnError(
    'profile_invalid',
    `profile ${name}: ${issues.length} problem(s); first: ${first.path}: ${first.message}`,
    { issues },
  );
}

/**
 * Reads, validates and compiles one profile directory. Throws a
 * `profile_invalid` KilnError listing every problem as `file:line:col`
 * (bad YAML, unknown key, wrong type, missing template, template syntax,
 * unknown variable, missing or path-like snippet). Never partially succeeds.
 */
export async function loadProfile(dir: string, opts: LoadProfileOptions = {}): Promise<LoadedProfile> {
  const dirName = basename(dir);
  const displayDir = opts.displayDir ?? `${basename(dir.replace(/\/[^/]+\/?$/, '')) || '.'}/${dirName}`;
  const shared = opts.shared ?? { texts: new Map<string, string>(), displayDir: 'profiles/_snippets' };
  const log = (opts.log ?? silentLogger).child({ profile: dirName });
  const contents = await readProfileDir(dir, displayDir);
  if (contents.profileYaml === undefined) {
    assertNoIssues(dirName, [
      ...contents.issues,
      { path: `${displayDir}/profile.yaml:1:1`, code: 'missing_file', message: 'profile.yaml is missing' },
    ]);
  }
  const yaml = parseProfileYaml(contents.profileYaml ?? '', `${displayDir}/profile.yaml`);
  assertNoIssues(dirName, [...contents.issues, ...yaml.issues]);
  const spec = yaml.spec!;
  assertNoIssues(dirName, checkSpec(spec, dirName, yaml, contents.texts));
  const locate = makeLocate(displayDir, shared, yaml);
  const vfiles = new Map<string, string>();
  for (const [rel, text] of contents.texts) vfiles.set(`/${rel}`, text);
  for (const [name, text] of shared.texts) vfiles.set(`${virtualDirs.sharedSnippets}/${name}`, text);
  const inline = inlineTemplates(spec);
  for (const [ptr, text] of inline) vfiles.set(`${virtualDirs.inline}${ptr}`, text);
  const sandbox = createSandbox(vfiles, opts.limits ?? defaultRenderLimits);
  const declared = new Set(Object.keys(spec.variables ?? {}));
  const snippetExists = (n: string): boolean =>
    vfiles.has(`${virtualDirs.snippets}/${n}`) || vfiles.has(`${virtualDirs.sharedSnippets}/${n}`);
  const issues: ErrorIssue[] = [];
  const compiled = new Map<string, CompiledFile>();
  for (const [vpath, text] of vfiles) {
    if (vpath.startsWith(`${virtualDirs.sharedSnippets}/`)) continue;
    let templates: Template[];
    try {
      templates = parseTemplate(sandbox, text, vpath);
    } catch (err) {
      issues.push(templateIssue(err, vpath, locate));
      continue;
    }
    compiled.set(vpath, { virtualPath: vpath, templates });
    // Snippets are checked through the templates that use them, where the
    // variables a `render` passes are in scope.
    if (vpath.startsWith(`${virtualDirs.snippets}/`)) continue;
    const partialIssues = checkPartials(templates, snippetExists, vpath, locate);
    issues.push(...partialIssues);
    if (partialIssues.length === 0) issues.push(...checkVariables(sandbox, templates, declared, vpath, locate));
  }
  assertNoIssues(dirName, issues);
  const get = (vpath: string): CompiledFile => compiled.get(vpath)!;
  const overriddenSnippets = [...contents.texts.keys()]
    .filter((p) => p.startsWith('snippets/'))
    .map((p) => p.slice(9))
    .filter((n) => shared.texts.has(n));
  const profile: LoadedProfile = {
    name: spec.name,
    dir,
    displayDir,
    spec,
    sandbox,
    sources: vfiles,
    digest: digestOf(vfiles),
    files: new Map(spec.files.map((f) => [f.name, get(`/${f.template}`)])),
    boot: {
      kernel: get('/inline/boot/kernel'),
      initrd: spec.boot.initrd.map((_, i) => get(`/inline/boot/initrd/${i}`)),
      cmdline: get('/inline/boot/cmdline'),
    },
    image: spec.image
      ? {
          name: get('/inline/image/name'),
          url: spec.image.url === undefined ? undefined : get('/inline/image/url'),
          disk: get('/inline/image/disk'),
          firmware: get('/inline/image/firmware'),
        }
      : undefined,
    bootFiles: contents.otherFiles,
    overriddenSnippets,
    locate,
  };
  log.debug({ files: [...profile.files.keys()], overriddenSnippets }, 'profile loaded');
  return profile;
}
