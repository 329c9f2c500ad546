import { Context, Drop, Liquid, toValueSync, type Template } from 'liquidjs';
import { createMemoryFs } from './memory-fs.js';

/** Virtual directories of the in-memory file system a sandbox reads. */
export const virtualDirs = {
  templates: '/templates',
  scripts: '/scripts',
  snippets: '/snippets',
  sharedSnippets: '/_snippets',
  inline: '/inline',
} as const;

/**
 * liquidjs' own per-render limits; exceeding one is a template_error. They
 * are a first line only: liquidjs checks time between tags and charges
 * memory in some filters, so a loop or a filter can get past them. The hard
 * limits are the render worker's (render-pool.ts): it is killed past
 * `template-timeout-ms`, and output past `template-max-output-kib` stops the render.
 */
export interface RenderLimits {
  /** Wall-clock milliseconds one render may take (liquidjs `renderLimit`). @default 2000 */
  renderMs: number;
  /** Array/string allocations (elements or characters) in one render (liquidjs `memoryLimit`). @default 10000000 */
  memory: number;
}

/** The limits used when a profile is loaded without explicit ones. */
export const defaultRenderLimits: RenderLimits = { renderMs: 2_000, memory: 10_000_000 };

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
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a filter gets what the template passes and quotes it as String() writes it, like liquidjs' own filters.
  return `'${String(value ?? '').replace(/'/g, `'\\''`)}'`;
}

/** Parses one template; throws liquidjs' own errors (see `toTemplateError`). */
export function parseTemplate(sandbox: Sandbox, text: string, virtualPath: string): Template[] {
  return sandbox.liquid.parse(text, virtualPath);
}

/** How much rendered text is left, in UTF-8 bytes; shared by the renders of one job (a deploy's files together). */
export interface OutputBudget {
  remaining: number;
}

/** Thrown when a render writes more than its OutputBudget. */
export class OutputLimitError extends Error {
  constructor(readonly limitBytes: number) {
    super(`output limit exceeded: more than ${Math.round(limitBytes / 1024)} KiB rendered (template-max-output-kib)`);
    this.name = 'OutputLimitError';
  }
}

/** liquidjs' own stringify for emitted values (not exported by liquidjs). */
function stringify(value: unknown): string {
  const v = value instanceof Drop && typeof value.valueOf === 'function' ? value.valueOf() : value;
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(stringify).join('');
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- liquidjs prints any other value with String(), `[object Object]` included; this copy must print the same.
  return String(v);
}

/**
 * Renders parsed templates with `context` visible to the template and every
 * snippet. Output goes through an emitter that charges `budget` as it is
 * written, so a template that writes too much stops at the limit instead of
 * building the whole text first.
 */
export function renderTemplate(
  sandbox: Sandbox,
  templates: Template[],
  context: object,
  budget: OutputBudget = { remaining: Number.POSITIVE_INFINITY },
): string {
  const { limits, liquid } = sandbox;
  const limit = budget.remaining;
  const emitter = {
    buffer: '',
    write(html: unknown): void {
      const text = stringify(html);
      // UTF-8 bytes ≥ UTF-16 units: a text longer than what is left fails before it is measured (and flattened).
      if (text.length > budget.remaining) budget.remaining = -1;
      else budget.remaining -= Buffer.byteLength(text);
      if (budget.remaining < 0) throw new OutputLimitError(limit);
      this.buffer += text;
    },
  };
  const ctx = new Context(
    {},
    liquid.options,
    { globals: context, renderLimit: limits.renderMs, memoryLimit: limits.memory, sync: true },
    { liquid },
  );
  return String(toValueSync(liquid.renderer.renderTemplates(templates, ctx, emitter)));
}
