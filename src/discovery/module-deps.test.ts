import { test } from 'node:test';
import assert from 'node:assert/strict';
import { moduleName, parseModulesDep, resolveModules } from './module-deps.js';

const dep = `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/scsi/sd_mod.ko: kernel/block/t10-pi.ko kernel/drivers/scsi/scsi_mod.ko
kernel/block/t10-pi.ko: kernel/lib/crc-t10dif.ko
kernel/lib/crc-t10dif.ko:
kernel/drivers/scsi/scsi_mod.ko:
garbage line without colon
`;

test('moduleName folds dashes and strips compression suffixes', () => {
  assert.equal(moduleName('kernel/block/t10-pi.ko'), 't10_pi');
  assert.equal(moduleName('kernel/x/e1000e.ko.xz'), 'e1000e');
  assert.equal(moduleName('kernel/x/a-b.ko.zst'), 'a_b');
});

test('resolveModules returns the transitive closure, sorted and without duplicates', () => {
  const idx = parseModulesDep(dep);
  const r = resolveModules(idx, ['ext4', 'sd_mod', 'ext4']);
  assert.deepEqual(r.paths, [
    'kernel/block/t10-pi.ko',
    'kernel/drivers/scsi/scsi_mod.ko',
    'kernel/drivers/scsi/sd_mod.ko',
    'kernel/fs/ext4/ext4.ko',
    'kernel/fs/jbd2/jbd2.ko',
    'kernel/fs/mbcache.ko',
    'kernel/lib/crc-t10dif.ko',
    'kernel/lib/crc16.ko',
  ]);
  assert.deepEqual(r.missing, []);
});

test('names with dashes resolve; unknown names are reported, not thrown', () => {
  const idx = parseModulesDep(dep);
  const r = resolveModules(idx, ['t10-pi', 'af_packet']);
  assert.deepEqual(r.paths, ['kernel/block/t10-pi.ko', 'kernel/lib/crc-t10dif.ko']);
  assert.deepEqual(r.missing, ['af_packet']);
});

test('a dependency cycle terminates', () => {
  const idx = parseModulesDep('a.ko: b.ko\nb.ko: a.ko\n');
  assert.deepEqual(resolveModules(idx, ['a']).paths, ['a.ko', 'b.ko']);
});
