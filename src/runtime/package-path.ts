// Files of the checkout outside the TypeScript tree (native addons, node
// scripts), found from where this module runs: src/ under tsx (tests,
// benches) or dist/src/ when compiled (`npm run build`, bin/kiln.mjs).
import { fileURLToPath } from 'node:url';

const root = new URL(import.meta.url.endsWith('.ts') ? '../../' : '../../../', import.meta.url);

/** Absolute path of `relative` (e.g. `native/tftp-pump/build/Release/tftp_pump.node`) in the checkout. */
export function packagePath(relative: string): string {
  return fileURLToPath(new URL(relative, root));
}
