import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markObjects, sweepObjects } from './gc-plan.js';
import { addMissingParents, pathFromTarName } from './import-tar.js';
import {
  canonicalJson,
  checkManifest,
  formatManifest,
  manifestId,
  MANIFEST_FORMAT,
  parseManifest,
  type Manifest,
  type ManifestEntry,
} from './manifest.js';
import { diffManifests } from './manifest-diff.js';
import { decodePack, encodePackFrameHeader, PACK_MAGIC } from './pack-frame.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const dir = (path: string): ManifestEntry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1 });
const file = (path: string, object: string, size = 1): ManifestEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 1,
  object,
  size,
});
const image = (...entries: ManifestEntry[]): Manifest => ({ format: MANIFEST_FORMAT, entries });

describe('manifest', () => {
  it('canonical JSON sorts keys, drops undefined members and has no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 'x', c: undefined }], e: null }), '{"a":[{"d":"x"}],"b":1,"e":null}');
  });

  it('the image id does not depend on entry or key order', () => {
    const one = image(dir('/'), dir('/etc'), file('/etc/a', A));
    const two = image(file('/etc/a', A), dir('/etc'), dir('/'));
    assert.equal(manifestId(formatManifest(one)), manifestId(formatManifest(two)));
    assert.notEqual(
      manifestId(formatManifest(one)),
      manifestId(formatManifest(image(dir('/'), dir('/etc'), file('/etc/a', B)))),
    );
  });

  it('round-trips through its canonical text', () => {
    const m = image(dir('/'), file('/a', A), {
      path: '/l',
      type: 'hardlink',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1,
      target: '/a',
    });
    assert.deepEqual(parseManifest(formatManifest(m)), { format: MANIFEST_FORMAT, entries: m.entries });
  });

  const cases: [string, Manifest, RegExp][] = [
    ['a path twice', image(dir('/'), file('/a', A), file('/a', B)), /listed twice/],
    ['a relative path', image(dir('/'), file('a', A)), /not a normalised/],
    ['a dot-dot segment', image(dir('/'), dir('/x'), file('/x/../a', A)), /not a normalised/],
    ['a file without an object', image(dir('/'), { ...file('/a', A), object: undefined }), /object id and size/],
    ['a directory with an object', image({ ...dir('/'), object: A, size: 1 }), /object id and size/],
    ['a device without numbers', image(dir('/'), { ...dir('/d'), type: 'char' }), /device numbers/],
    [
      'a hardlink to a directory',
      image(dir('/'), dir('/d'), { ...dir('/h'), type: 'hardlink', target: '/d' }),
      /not a regular file/,
    ],
    ['a missing parent', image(dir('/'), file('/etc/a', A)), /parent \/etc/],
  ];
  for (const [name, m, problem] of cases)
    it(`refuses ${name}`, () => {
      assert.match(checkManifest(m).join('\n'), problem);
    });

  it('tar names become absolute paths; dot-dot is refused', () => {
    assert.equal(pathFromTarName('./'), '/');
    assert.equal(pathFromTarName('./etc/x/'), '/etc/x');
    assert.equal(pathFromTarName('/etc//x'), '/etc/x');
    assert.throws(() => pathFromTarName('./a/../../x'), { code: 'validation_failed' });
  });

  it('missing parents are added as plain root-owned directories', () => {
    assert.deepEqual(
      addMissingParents([file('/a/b/c', A)]).map((e) => e.path),
      ['/a/b/c', '/a/b', '/a', '/'],
    );
  });
});

describe('manifest diff', () => {
  it('lists added, removed and changed paths and the objects the new image needs', () => {
    const a = image(dir('/'), file('/same', A), file('/gone', B), file('/mod', B));
    const b = image(
      dir('/'),
      file('/same', A),
      { ...file('/mod', C, 10), mode: 0o600 },
      file('/new', C, 10),
      file('/new2', B),
    );
    assert.deepEqual(diffManifests(a, b), {
      added: ['/new', '/new2'],
      removed: ['/gone'],
      changed: [{ path: '/mod', fields: ['mode', 'object', 'size'] }],
      newObjects: [C],
      newObjectBytes: 10,
    });
  });

  it('an image against itself is empty', () => {
    const a = image(dir('/'), file('/a', A));
    assert.deepEqual(diffManifests(a, a), { added: [], removed: [], changed: [], newObjects: [], newObjectBytes: 0 });
  });
});

describe('gc plan', () => {
  it('keeps referenced objects and recent unreferenced ones, sweeps the rest', () => {
    const marked = markObjects([image(dir('/'), file('/a', A)), image(dir('/'), file('/b', B), file('/c', A))]);
    assert.deepEqual([...marked].sort(), [A, B]);
    const now = 10_000_000;
    const stored = [
      { id: A, mtimeMs: 0 },
      { id: C, mtimeMs: 0 },
      { id: 'd'.repeat(64), mtimeMs: now - 1000 },
    ];
    assert.deepEqual(sweepObjects(stored, marked, now, 60_000), [C]);
  });
});

describe('pack frames', () => {
  it('a frame header is the raw id and a big-endian u64 size; a pack decodes back', () => {
    const h = encodePackFrameHeader(`01${'0'.repeat(60)}ff`, 258);
    assert.equal(h[0], 1);
    assert.equal(h[31], 0xff);
    assert.deepEqual([...h.subarray(32)], [0, 0, 0, 0, 0, 0, 1, 2]);
    const body = new Uint8Array([9, 8]);
    const pack = Buffer.concat([PACK_MAGIC, encodePackFrameHeader(A, 2), body, encodePackFrameHeader(B, 0)]);
    assert.deepEqual(
      decodePack(pack).map((o) => [o.id, [...o.bytes]]),
      [
        [A, [9, 8]],
        [B, []],
      ],
    );
    assert.throws(() => decodePack(pack.subarray(0, pack.length - 1)), /truncated/);
  });
});
