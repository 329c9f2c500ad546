#!/usr/bin/env node
// `npm run build`: one incremental `tsc --build` typechecks the whole tree
// (src, test, bench, scripts) and emits JavaScript into dist/ (dist/src/… is
// what bin/kiln.mjs runs); unchanged sources are neither checked nor emitted
// again. Then removes compiled files whose source is gone, so a deleted
// migration or worker never runs from a stale dist/. Exits with tsc's code.
// Extra arguments go to tsc: `--noCheck` emits without typechecking (the
// check stays pending for the next full build).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const { status } = spawnSync(process.execPath, [tsc, '--build', root, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});

function prune(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) prune(p);
    else if (e.name.endsWith('.js') && !existsSync(join(root, p.slice(dist.length + 1).replace(/\.js$/, '.ts'))))
      rmSync(p);
  }
}
if (existsSync(dist)) prune(dist);
process.exit(status ?? 1);
