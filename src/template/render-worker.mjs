// Entry of a template render worker thread (render-pool.ts). A worker does
// not inherit the tsx loader that `bin/kiln.mjs` registers on the main thread,
// so it registers its own before loading the TypeScript (harmless when the
// process already runs under `--import tsx`).
import { register } from 'tsx/esm/api';

register();
await import('./render-worker.ts');
