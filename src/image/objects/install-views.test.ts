import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderInstallView, visEncode } from './install-views.js';
import { MANIFEST_FORMAT, type Manifest } from './manifest.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const m: Manifest = {
  format: MANIFEST_FORMAT,
  entries: [
    { path: '/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1 },
    { path: '/dev', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1 },
    { path: '/dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, mtime: 2, devMajor: 1, devMinor: 3 },
    { path: '/a b', type: 'file', mode: 0o4755, uid: 0, gid: 5, mtime: 3.5, object: A, size: 10 },
    {
      path: '/c',
      type: 'file',
      mode: 0o600,
      uid: 1000,
      gid: 1000,
      mtime: 4,
      object: A,
      size: 10,
      xattrs: { 'user.x': 'eA==' },
    },
    { path: '/d', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 5, object: B, size: 0 },
    { path: '/h', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: 9, target: '/a b' },
    { path: '/l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 6, target: '../é x' },
    { path: '/p', type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtime: 7 },
  ],
};

test('install views: vis encoding escapes every byte outside the safe set, UTF-8 bytes one by one', () => {
  assert.equal(visEncode('/usr/bin/x-1.2_3+4,5@6%7:8~'), '/usr/bin/x-1.2_3+4,5@6%7:8~');
  assert.equal(visEncode('a b\\c#d=e\n'), 'a\\040b\\134c\\043d\\075e\\012');
  assert.equal(visEncode('é'), '\\303\\251');
});

test('install views: files lists each object once at its first path; hardlinks and xattrs as the writer reads them', () => {
  assert.equal(renderInstallView(m, 'files'), `${A} 10 ./a\\040b\n${B} 0 ./d\n`);
  assert.equal(renderInstallView(m, 'hardlinks'), './h ./a\\040b\n');
  assert.equal(renderInstallView(m, 'xattrs'), '# file: ./c\nuser.x=0seA==\n\n');
});

test('install views: mtree gives every entry its type, metadata, contents, link or device; a hard link copies its target', () => {
  assert.equal(
    renderInstallView(m, 'mtree'),
    [
      '#mtree',
      '. type=dir mode=0755 uid=0 gid=0 time=1.000000000',
      './a\\040b type=file mode=4755 uid=0 gid=5 time=3.500000000 size=10 contents=objects/aa/' + 'a'.repeat(62),
      './c type=file mode=0600 uid=1000 gid=1000 time=4.000000000 size=10 contents=objects/aa/' + 'a'.repeat(62),
      './d type=file mode=0644 uid=0 gid=0 time=5.000000000 size=0 contents=objects/bb/' + 'b'.repeat(62),
      './dev type=dir mode=0755 uid=0 gid=0 time=1.000000000',
      './dev/null type=char mode=0666 uid=0 gid=0 time=2.000000000 device=native,1,3',
      './h type=file mode=4755 uid=0 gid=5 time=3.500000000 size=10 contents=objects/aa/' + 'a'.repeat(62),
      './l type=link mode=0777 uid=0 gid=0 time=6.000000000 link=..\\057\\303\\251\\040x'.replace('\\057', '/'),
      './p type=fifo mode=0600 uid=0 gid=0 time=7.000000000',
      '',
    ].join('\n'),
  );
});
