import type { Command } from '@commander-js/extra-typings';
import { join } from 'node:path';
import { buildImage } from '../../image/build/build-image.js';
import { createImageCatalog } from '../../image/image-catalog.js';
import { createImageStore } from '../../image/image-store.js';
import { KilnError } from '../../error/kiln-error.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

const dataDirOf = (opts: { dataDir?: string }, env: Record<string, string | undefined>) =>
  opts.dataDir ?? env['KILN_DATA_DIR'] ?? './kiln-data';
const catalogOf = (dataDir: string) => createImageCatalog(createImageStore(join(dataDir, 'images')));
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/**
 * `kiln image add|list|show|diff|gc|build`: OS images as objects and
 * manifests. Like `add` always did, these run on the controller machine and
 * read and write the data directory (`--data-dir` or KILN_DATA_DIR).
 */
export function registerImageCatalogCommands(image: Command, o: Output, env: Record<string, string | undefined>): void {
  image
    .command('add')
    .description('add an OS image (a .tar.gz or .tar.zst of a root filesystem): split into objects and a manifest')
    .argument('<name>')
    .argument('<file>')
    .option('--data-dir <dir>')
    .option('--json', 'print JSON')
    .action(async (name, file, opts) => {
      const { image: img, stats } = await catalogOf(dataDirOf(opts, env)).importImage(name, file);
      emit(
        o,
        opts.json,
        { ...img, import: stats },
        () =>
          `added ${img.name} (${img.format}, ${img.sizeBytes} bytes, sha256 ${img.sha256})\n` +
          `image id ${img.manifest}: ${stats.entries} entries, ${stats.files} files, ` +
          `${stats.newObjects} new objects (${mb(stats.newBytes)} of ${mb(stats.bytes)})`,
      );
    });
  image
    .command('list')
    .description('OS images in the store')
    .option('--data-dir <dir>')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const list = createImageStore(join(dataDirOf(opts, env), 'images')).list();
      emit(o, opts.json, list, () =>
        formatTable(
          ['NAME', 'FORMAT', 'BYTES', 'SHA256', 'IMAGE ID', 'FILES', 'ADDED', 'FROM'],
          list.map((i) => [
            i.name,
            i.format,
            i.sizeBytes,
            i.sha256.slice(0, 16),
            i.manifest?.slice(0, 16) ?? '-',
            i.files ?? '-',
            i.addedAt,
            // The member the record was taken from (docs/cluster.md, "Content between members"); '-': imported here.
            i.fetchedFrom ?? '-',
          ]),
        ),
      );
    });
  image
    .command('show')
    .description("an image's record and manifest summary (--entries: every path)")
    .argument('<name>')
    .option('--entries', 'list every entry')
    .option('--data-dir <dir>')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      const { image: img, manifest } = await catalogOf(dataDirOf(opts, env)).show(name);
      const count = (t: string) => manifest.entries.filter((e) => e.type === t).length;
      const objects = new Set(manifest.entries.flatMap((e) => (e.object ? [e.object] : [])));
      const bytes = manifest.entries.reduce((s, e) => s + (e.type === 'file' ? (e.size ?? 0) : 0), 0);
      const summary = {
        ...img,
        types: Object.fromEntries(
          ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'].map((t) => [t, count(t)]),
        ),
        objects: objects.size,
        fileBytes: bytes,
      };
      emit(o, opts.json, opts.entries ? { ...summary, entries: manifest.entries } : summary, () =>
        [
          `${img.name}  image id ${img.manifest}`,
          `tarball ${img.file} (${img.sizeBytes} bytes), added ${img.addedAt}`,
          `${manifest.entries.length} entries: ${Object.entries(summary.types)
            .map(([t, n]) => `${n} ${t}`)
            .join(', ')}`,
          `${objects.size} objects, ${mb(bytes)} of file content`,
          ...(opts.entries
            ? manifest.entries.map(
                (e) =>
                  `${e.type.padEnd(8)} ${e.mode.toString(8).padStart(4, '0')} ${e.uid}:${e.gid} ${e.path}` +
                  (e.target ? ` -> ${e.target}` : '') +
                  (e.object ? ` ${e.object.slice(0, 16)} ${e.size}` : ''),
              )
            : []),
        ].join('\n'),
      );
    });
  image
    .command('diff')
    .description('what changes from image A to image B, and the objects B adds')
    .argument('<a>')
    .argument('<b>')
    .option('--data-dir <dir>')
    .option('--json', 'print JSON')
    .action(async (a, b, opts) => {
      const d = await catalogOf(dataDirOf(opts, env)).diff(a, b);
      emit(o, opts.json, d, () =>
        [
          ...d.added.map((p) => `+ ${p}`),
          ...d.removed.map((p) => `- ${p}`),
          ...d.changed.map((c) => `~ ${c.path} (${c.fields.join(', ')})`),
          `${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed; ` +
            `${d.newObjects.length} new objects (${mb(d.newObjectBytes)})`,
        ].join('\n'),
      );
    });
  image
    .command('gc')
    .description('remove manifests no image names and objects no image uses (every named image is kept)')
    .option('--data-dir <dir>')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const r = await catalogOf(dataDirOf(opts, env)).gc();
      emit(
        o,
        opts.json,
        r,
        () =>
          `kept ${r.keptManifests} manifests and ${r.keptObjects} objects; ` +
          `removed ${r.removedManifests.length} manifests and ${r.removedObjects} objects (${mb(r.removedBytes)})`,
      );
    });
  image
    .command('build')
    .description('build a Debian root with mmdebstrap from the mirror apt uses here, and add it as an image')
    .argument('<name>')
    .requiredOption('--suite <suite>', 'Debian suite or codename, e.g. bookworm')
    .option('--packages <list>', 'extra packages, comma-separated', '')
    .option('--overlay <dir>', 'directory copied over the root at the end (absolute path)')
    .option('--variant <variant>', 'mmdebstrap variant: minbase or essential', 'minbase')
    .option('--bare', 'leave out the kernel, systemd and openssh-server (small test images)')
    .option('--source-date-epoch <seconds>', 'clamp file times to this (default: SOURCE_DATE_EPOCH, else a fixed date)')
    .option('--data-dir <dir>')
    .option('--json', 'print JSON')
    .action(async (name, opts) => {
      if (opts.variant !== 'minbase' && opts.variant !== 'essential')
        throw new KilnError('validation_failed', `--variant ${opts.variant}: minbase or essential`);
      const epoch = opts.sourceDateEpoch ?? env['SOURCE_DATE_EPOCH'];
      if (epoch !== undefined && !/^\d+$/.test(epoch))
        throw new KilnError('validation_failed', `source date epoch ${epoch}: whole seconds since 1970`);
      const dataDir = dataDirOf(opts, env);
      const built = await buildImage({
        name,
        catalog: catalogOf(dataDir),
        dataDir,
        suite: opts.suite,
        packages: opts.packages.split(',').filter(Boolean),
        ...(opts.overlay !== undefined ? { overlay: opts.overlay } : {}),
        variant: opts.variant,
        bare: opts.bare ?? false,
        ...(epoch !== undefined ? { sourceDateEpoch: Number(epoch) } : {}),
        ...(env['PATH'] !== undefined ? { path: env['PATH'] } : {}),
        onProgress: opts.json ? undefined : (t) => o.err(t.trimEnd()),
      });
      const { image: img, stats } = built;
      emit(
        o,
        opts.json,
        built,
        () =>
          `built ${img.name}: image id ${img.manifest}\n` +
          `${stats.entries} entries, ${stats.files} files, ${stats.newObjects} new objects ` +
          `(${mb(stats.newBytes)} of ${mb(stats.bytes)}); mmdebstrap ${(built.buildMs / 1000).toFixed(0)} s, ` +
          `import ${(built.importMs / 1000).toFixed(0)} s`,
      );
    });
}
