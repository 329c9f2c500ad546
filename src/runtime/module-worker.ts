// Worker threads on a module of the TypeScript tree, compiled or not.
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on the module `name` (no extension) beside `base`
 * (the caller's `import.meta.url`): its compiled `.js` sibling in dist/, or
 * under tsx (tests, benches; `base` is a `.ts` file) the `.ts` source. Node 20
 * does not apply the tsx hooks of the main thread to a worker, so there a
 * one-line bootstrap registers tsx in the worker before importing the source.
 */
export function startModuleWorker(base: string, name: string, options: WorkerOptions = {}): Worker {
  if (!base.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, base), options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL(`./${name}.ts`, base).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
