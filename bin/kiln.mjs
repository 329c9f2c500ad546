#!/usr/bin/env node
// Entry point of the `kiln` command: runs the compiled JavaScript in dist/ (`npm run build`).
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('kiln: not built: run `npm run build` in the Kiln checkout first');
  process.exit(1);
}
const cli = await import(main.href);
await cli.main();
