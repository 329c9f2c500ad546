import type { Command } from '@commander-js/extra-typings';
import { join } from 'node:path';
import { buildDiscoveryImage, listDiscoveryImages } from '../../discovery/build-discovery-image.js';
import { emit, type Output } from '../output.js';
import { registerImageCatalogCommands } from './image-catalog.js';

/** `kiln image …`: node-image commands here, OS images in image-catalog.ts; all run on the controller machine (reads and writes the data directory). */
export function registerImageCommands(program: Command, o: Output, env: Record<string, string | undefined>): void {
  const image = program.command('image').description("OS images (objects and manifests) and Kiln's node image");
  image
    .command('build-discovery')
    .description('build (or find in the cache) the discovery kernel and initramfs from Debian packages')
    .option('--data-dir <dir>', 'controller data directory (or KILN_DATA_DIR)')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const dataDir = opts.dataDir ?? env['KILN_DATA_DIR'] ?? './kiln-data';
      const img = await buildDiscoveryImage({ cacheDir: join(dataDir, 'cache') });
      emit(
        o,
        opts.json,
        img,
        () => `${img.cached ? 'cached' : 'built'} ${img.version}\nkernel  ${img.kernelPath}\ninitrd  ${img.initrdPath}`,
      );
    });
  registerImageCatalogCommands(image, o, env);
  image
    .command('list-discovery')
    .description('discovery images in the cache')
    .option('--data-dir <dir>')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const list = listDiscoveryImages(join(opts.dataDir ?? env['KILN_DATA_DIR'] ?? './kiln-data', 'cache'));
      emit(o, opts.json, list, () => list.join('\n') || '(none)');
    });
}
