/**
 * A template render worker thread: renders profile templates off the main
 * event loop, so a slow or huge template never stalls DHCP, TFTP or HTTP.
 * The pool (render-pool.ts) kills it when a render runs past its time limit.
 * In: `render` (profile sources by digest, paths, context, limits).
 * Out: `ready` once; per job `file` before each path (so a kill can name
 * the file), then `done` with the texts or `failed` with the error's parts.
 */
import { parentPort } from 'node:worker_threads';
import type { Template } from 'liquidjs';
import { createSandbox, parseTemplate, renderTemplate, type RenderLimits, type Sandbox } from './sandbox.js';

/** A profile's templates as the worker receives them. */
export interface RenderWorkerProfile {
  digest: string;
  sources: Array<[string, string]>;
}

/** Messages from the pool to a worker. */
export interface RenderWorkerRequest {
  type: 'render';
  id: number;
  profile: RenderWorkerProfile;
  paths: string[];
  context: object;
  limits: RenderLimits;
  maxOutputBytes: number;
}

/** The parts of a liquidjs (or other) error that survive the thread boundary; `path` is the file being rendered. */
export interface RenderFailure {
  path: string;
  name: string;
  message: string;
  originalMessage: string | null;
  file: string | null;
  line: number | null;
  col: number | null;
}

/** Messages from a worker to the pool. */
export type RenderWorkerReply =
  | { type: 'ready' }
  | { type: 'file'; id: number; path: string }
  | { type: 'done'; id: number; texts: Array<[string, string]> }
  | { type: 'failed'; id: number; error: RenderFailure };

interface Compiled {
  sandbox: Sandbox;
  templates: Map<string, Template[]>;
}

/** Parsed profiles by digest and limits; the oldest goes when more than this many are held. */
const CACHE_ENTRIES = 16;
const cache = new Map<string, Compiled>();

function compiledFor(req: RenderWorkerRequest): Compiled {
  const key = `${req.profile.digest}:${req.limits.renderMs}:${req.limits.memory}`;
  let c = cache.get(key);
  if (c) {
    cache.delete(key);
    cache.set(key, c);
    return c;
  }
  c = { sandbox: createSandbox(new Map(req.profile.sources), req.limits), templates: new Map() };
  cache.set(key, c);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  return c;
}

function failure(path: string, err: unknown): RenderFailure {
  const e = (err ?? {}) as {
    name?: string;
    message?: string;
    originalError?: { message?: string };
    token?: { file?: string; getPosition?: () => [number, number] };
  };
  const pos = e.token?.getPosition?.();
  return {
    path,
    name: String(e.name ?? 'Error'),
    message: String(e.message ?? err),
    originalMessage: e.originalError?.message ?? null,
    file: e.token?.file ?? null,
    line: pos?.[0] ?? null,
    col: pos?.[1] ?? null,
  };
}

const port = parentPort!;
port.on('message', (req: RenderWorkerRequest) => {
  const budget = { remaining: req.maxOutputBytes };
  const texts: Array<[string, string]> = [];
  let path = req.paths[0] ?? '';
  try {
    const c = compiledFor(req);
    for (path of req.paths) {
      port.postMessage({ type: 'file', id: req.id, path } satisfies RenderWorkerReply);
      let templates = c.templates.get(path);
      if (!templates) {
        const text = req.profile.sources.find(([p]) => p === path)?.[1];
        if (text === undefined) throw new Error(`no template ${path} in this profile`);
        templates = parseTemplate(c.sandbox, text, path);
        c.templates.set(path, templates);
      }
      texts.push([path, renderTemplate(c.sandbox, templates, req.context, budget)]);
    }
    port.postMessage({ type: 'done', id: req.id, texts } satisfies RenderWorkerReply);
  } catch (err) {
    port.postMessage({ type: 'failed', id: req.id, error: failure(path, err) } satisfies RenderWorkerReply);
  }
});
port.postMessage({ type: 'ready' } satisfies RenderWorkerReply);
