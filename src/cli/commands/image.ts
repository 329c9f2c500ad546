import type { Command } from '@commander-js/extra-typings';
import { join } from 'node:path';
import { buildDiscoveryImage, listDiscoveryImages } from '../../discovery/build-discovery-image.js';
import { createImageStore } from '../../image/image-store.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

/** `kiln image build-discovery|list-discovery`: runs on the controller machine (reads and writes the data directory). */
export function registerImageCommands(program: Command, o: Output, env: Record<string, string | undefined>): void {
  const image = program.command('image').description("Kiln's node image (discovery, image writer, wipe)");
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
  image
    .command('add')
    .description('add an OS image (a .tar.gz or .tar.zst of a root filesystem) to the store for kiln-image profiles')
    .argument('<name>')
    .argument('<file>')
    .option('--data-dir <dir>')
    .option('--json', 'print JSON')
    .action(async (name, file, opts) => {
      const img = await createImageStore(join(opts.dataDir ?? env['KILN_DATA_DIR'] ?? './kiln-data', 'images')).add(
        name,
        file,
      );
      emit(o, opts.json, img, () => `added ${img.name} (${img.format}, ${img.sizeBytes} bytes, sha256 ${img.sha256})`);
    });
  image
    .command('list')
    .description('OS images in the store')
    .option('--data-dir <dir>')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const list = createImageStore(join(opts.dataDir ?? env['KILN_DATA_DIR'] ?? './kiln-data', 'images')).list();
      emit(o, opts.json, list, () =>
        formatTable(
          ['NAME', 'FORMAT', 'BYTES', 'SHA256', 'ADDED'],
          list.map((i) => [i.name, i.format, i.sizeBytes, i.sha256.slice(0, 16), i.addedAt]),
        ),
      );
    });
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
