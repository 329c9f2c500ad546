import { Liquid, type Template } from 'liquidjs';
import { createMemoryFs } from './memory-fs.js';

/** Virtual directories of the in-memory file system a sandbox reads. */
export const virtualDirs = {
  templates: '/templates',
  scripts: '/scripts',
  snippets: '/snippets',
  sharedSnippets: '/_snippets',
  inline: '/inline',
} as const;

/** Per-render resource limits; exceeding one is a template_error. */
export interface RenderLimits {
  /** Wall-clock milliseconds one render may take; generous because a busy controller (a boot storm) must not fail real renders, which take milliseconds. @default 10000 */
  renderMs: number;
  /** Tag/output renders in one render call. @default 200000 */
  templateRenders: number;
  /** Array/string allocations (elements or characters) in one render. @default 10000000 */
  memory: number;
}

/** The limits used when a profile is loaded without explicit ones. */
export const defaultRenderLimits: RenderLimits = { renderMs: 10_000, templateRenders: 200_000, memory: 10_000_000 };

/**
 * A strict, sandboxed Liquid engine bound to one profile's in-memory files.
 * Built once when the profile loads; rendering with it never reads the disk.
 */
export interface Sandbox {
  readonly liquid: Liquid;
  readonly limits: RenderLimits;
}

/**
 * Builds the sandbox for `files` (virtual path → text). Partials resolve in
 * the profile's `/snippets` first, then the shared `/_snippets`.
 */
export function createSandbox(files: ReadonlyMap<string, string>, limits: RenderLimits = defaultRenderLimits): Sandbox {
  const liquid = new Liquid({
    fs: createMemoryFs(files),
    root: [virtualDirs.templates],
    partials: [virtualDirs.snippets, virtualDirs.sharedSnippets],
    layouts: [virtualDirs.snippets, virtualDirs.sharedSnippets],
    relativeReference: false,
    extname: '',
    cache: false,
    strictVariables: true,
    strictFilters: true,
    ownPropertyOnly: true,
    lenientIf: false,
    jsTruthy: false,
    parseLimit: 2_000_000,
    renderLimit: limits.renderMs,
    memoryLimit: limits.memory,
  });
  liquid.registerFilter('sh', shellQuote);
  return { liquid, limits };
}

/**
 * The `sh` filter: quotes a value as one POSIX shell word (`'it'\''s'`),
 * so host data can never break out of a script line.
 */
export function shellQuote(value: unknown): string {
  return `'${String(value ?? '').replace(/'/g, `'\\''`)}'`;
}

/** Parses one template; throws liquidjs' own errors (see `toTemplateError`). */
export function parseTemplate(sandbox: Sandbox, text: string, virtualPath: string): Template[] {
  return sandbox.liquid.parse(text, virtualPath);
}

/** Renders parsed templates with `context` visible to the template and every snippet. */
export function renderTemplate(sandbox: Sandbox, templates: Template[], context: object): string {
  const { limits } = sandbox;
  const out: unknown = sandbox.liquid.renderSync(templates, {}, {
    globals: context,
    renderLimit: limits.renderMs,
    memoryLimit: limits.memory,
    templateLimit: limits.templateRenders,
  });
  return String(out);
}
