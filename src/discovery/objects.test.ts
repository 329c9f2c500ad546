// The image writer's object path (node/agent/objects.sh) under busybox with
// the tools the node image ships (GNU tar, bsdtar, setfattr), against a real
// controller serving a real imported image (object and view routes over a
// socket) and the plan buildInstallPlan makes. The old Kiln root is a
// directory (the test replaces findfs/mount with a stand-in that records the
// mount options). Proves: objects the machine holds are reused, never
// fetched; a stale file of the same size is not; the rest come in packs and
// single GETs; the written root equals the image (modes, owners, times,
// symlinks, hard links, xattrs); a wrong view or a tampered object stops the
// install before any disk is touched; a machine with too little of the image
// streams the tarball.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createTestController } from '../../test/support/controller.js';
import type { Host } from '../inventory/host.js';
import { createImageCatalog } from '../image/image-catalog.js';
import { createImageStore } from '../image/image-store.js';
import { buildInstallPlan } from '../image/install-plan.js';
import { busyboxOnlyPath } from '../../test/support/busybox.js';
import { nodeScriptsDir } from './build-discovery-image.js';

const run = promisify(execFile);
const busybox = '/bin/busybox';
const agent = join(nodeScriptsDir, 'agent');
const tools = { tar: '/usr/bin/tar', bsdtar: '/usr/bin/bsdtar', setfattr: '/usr/bin/setfattr' };
const skip = [busybox, ...Object.values(tools), '/usr/bin/getfattr'].some((t) => !existsSync(t))
  ? 'needs busybox, GNU tar, bsdtar (libarchive-tools) and setfattr/getfattr (attr)'
  : process.getuid?.() !== 0
    ? 'needs root (file owners)'
    : false;

const work = mkdtempSync(join(tmpdir(), 'kiln-objects-'));
let controller: Awaited<ReturnType<typeof createTestController>>;
let baseUrl = '';
const requests: string[] = [];
const catalog = createImageCatalog(createImageStore(join(work, 'images')));

function put(root: string, path: string, data: string | Buffer, mode = 0o644, uid = 0, gid = 0): void {
  const p = join(root, path);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
  chmodSync(p, mode);
  execFileSync('chown', [`${uid}:${gid}`, p]);
  utimesSync(p, 1_700_000_000, 1_700_000_000 + path.length);
}

/** The image's root: small and large files, odd owners and modes, a symlink, a hard link, an xattr, a fifo. */
const big = Buffer.alloc(300_000, 3);
function sourceRoot(): string {
  const r = join(work, 'src');
  put(r, 'etc/os-release', 'NAME=Kiln test\n');
  put(r, 'etc/shadow', 'root:*:1:0:99999:7:::\n', 0o640, 0, 42);
  put(r, 'usr/bin/tool', '#!/bin/sh\necho tool\n', 0o4755);
  put(r, 'usr/bin/ping', Buffer.alloc(4000, 1), 0o755);
  execFileSync('setfattr', ['-n', 'user.kiln', '-v', 'capability-stand-in', join(r, 'usr/bin/ping')]);
  put(r, 'usr/lib/big.so', big);
  put(r, 'usr/share/doc/a', 'same bytes\n', 0o644, 1000, 1000);
  put(r, 'usr/share/doc/b', 'same bytes\n', 0o600);
  put(r, 'usr/share/stale', 'new content\n');
  linkSync(join(r, 'usr/bin/tool'), join(r, 'usr/bin/tool-link'));
  symlinkSync('usr/bin', join(r, 'bin'));
  execFileSync('mkfifo', [join(r, 'run-fifo')]);
  return r;
}

before(async () => {
  if (skip) return;
  const src = sourceRoot();
  const tarball = join(work, 'root.tar.gz');
  execFileSync('tar', ['-C', src, '--xattrs', '--xattrs-include=*', '--numeric-owner', '-czf', tarball, '.']);
  await catalog.importImage('img', tarball);
  controller = await createTestController({ boot: { imagesDir: join(work, 'images') } });
  await controller.app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(controller.app.server.address() as AddressInfo).port}`;
  controller.app.server.on('request', (req: { url?: string }) => requests.push(req.url ?? ''));
});
after(async () => {
  await controller?.close();
  rmSync(work, { recursive: true, force: true });
});

const host = { name: 'node-7.example', firmware: 'bios' } as Host;

/** Runs objects_prepare (and objects_write when it left ready) with `old` as the machine's Kiln root. */
async function writer(
  name: string,
  old: string | null,
  plan: unknown,
): Promise<{ code: number; out: string; target: string; mounts: string }> {
  const runDir = join(work, `${name}-run`);
  const target = join(work, `${name}-target`);
  const bin = join(work, 'bin');
  if (!existsSync(bin)) {
    mkdirSync(bin);
    for (const [n, p] of Object.entries(tools)) symlinkSync(p, join(bin, n));
    // Only busybox applets on PATH, as in the node image (no GNU split, stat, find or sha256sum).
    busyboxOnlyPath(work);
  }
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  mkdirSync(target, { recursive: true });
  writeFileSync(join(runDir, 'plan.json'), JSON.stringify(plan));
  // findfs and mount stand in for the disk: the "filesystem" is the directory `old`.
  const script = `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/objects.sh"
plan_get() { printf '%s\\n' "$PLAN" | json_get "$1"; }
PLAN=$(json_flatten < "$KILN_RUN/plan.json")
findfs() { [ -n "$OLD" ] && [ "$1" = LABEL=kiln-root ] && echo /dev/fake3; }
mount() { echo "$*" >> "$KILN_RUN/mounts"; rmdir "$OBJ_DIR/old" && ln -s "$OLD" "$OBJ_DIR/old"; }
umount() { rm "$OBJ_DIR/old"; }
objects_prepare || exit 1
[ -e "$OBJ_DIR/ready" ] || exit 0
objects_write`;
  let code = 0;
  let out: string;
  try {
    const r = await run(busybox, ['sh', '-c', script], {
      env: {
        PATH: join(work, 'bb'),
        KILN_LIB: agent,
        KILN_RUN: runDir,
        KILN_BIN: bin,
        KILN_TARGET: target,
        OLD: old ?? '',
        OBJ_PACK_MAX: '1000',
        OBJ_PACK_IDS: '2',
      },
      timeout: 60_000,
    });
    out = r.stdout + r.stderr;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    code = e.code ?? -1;
    out = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  const mounts = existsSync(join(runDir, 'mounts')) ? readFileSync(join(runDir, 'mounts'), 'utf8') : '';
  return { code, out, target, mounts };
}

function planOf(): ReturnType<typeof buildInstallPlan> {
  const img = createImageStore(join(work, 'images')).get('img');
  return buildInstallPlan({ name: 'img' }, img, host, { baseUrl, apiUrl: baseUrl, caPem: '' });
}

/**
 * Every path with type, mode, owner, mtime, size, link target and xattrs, as
 * GNU tar lists it; times to the second (the manifest keeps mtime as a float
 * of seconds: about 240 ns of resolution today).
 */
function listing(root: string): string {
  return execFileSync(
    'sh',
    [
      '-c',
      `cd "$1" && tar --xattrs --xattrs-include='user.*' --numeric-owner -cf - . | tar --xattrs -tvf - --full-time`,
      'sh',
      root,
    ],
    { encoding: 'utf8' },
  ).replace(/(\d\d:\d\d:\d\d)(\.\d+)? +/g, '$1 ');
}

test(
  'objects: the machine’s objects are reused, the rest fetched in packs and GETs; the root written equals the image',
  { skip },
  async () => {
    // The old root: most of the image at the same paths, one stale file of the same size.
    const old = join(work, 'old');
    put(old, 'usr/lib/big.so', big);
    put(old, 'usr/share/stale', 'old content\n');
    put(old, 'usr/share/doc/a', 'same bytes\n');
    const plan = planOf();
    assert.ok(plan.image.objects, 'the plan has an objects section');
    requests.length = 0;
    const w = await writer('reuse', old, plan);
    assert.equal(w.code, 0, w.out);
    assert.equal(
      w.mounts.trim(),
      `-t ext4 -o ro,nodev,nosuid,noexec,noload /dev/fake3 ${join(work, 'reuse-run', 'img', 'old')}`,
    );
    // Reused: big.so and doc/a (whose object doc/b shares); fetched: four small ones in packs of two, ping (4000 bytes) alone.
    const reusedBytes = big.length + 'same bytes\n'.length;
    const fetched = ['NAME=Kiln test\n', 'root:*:1:0:99999:7:::\n', '#!/bin/sh\necho tool\n', 'new content\n'];
    const fetchedBytes = fetched.reduce((s, f) => s + f.length, 0) + 4000;
    assert.match(
      w.out,
      new RegExp(
        `objects: fetched ${fetchedBytes} bytes \\(5 objects, 2 packs, 1 single\\) and reused ${reusedBytes} bytes \\(2 objects\\) of ${fetchedBytes + reusedBytes}`,
      ),
    );
    assert.match(w.out, /wrote the image from objects \(\d+ entries, 1 hard links\)/);
    // Only the views, two packs and ping's object went over the wire; no reused object was asked for.
    assert.deepEqual(
      requests.map((r) => r.replace(/[0-9a-f]{64}/, 'ID')),
      [
        '/images/manifests/ID/files',
        '/images/manifests/ID/mtree',
        '/images/manifests/ID/xattrs',
        '/images/manifests/ID/hardlinks',
        '/images/objects/pack',
        '/images/objects/pack',
        '/images/objects/ID',
      ],
    );
    // The written root is the image.
    assert.equal(listing(w.target), listing(join(work, 'src')));
    assert.equal(readFileSync(join(w.target, 'usr/share/stale'), 'utf8'), 'new content\n');
    assert.equal(lstatSync(join(w.target, 'usr/bin/tool')).ino, lstatSync(join(w.target, 'usr/bin/tool-link')).ino);
    assert.equal(readlinkSync(join(w.target, 'bin')), 'usr/bin');
    assert.match(
      execFileSync('getfattr', ['-n', 'user.kiln', join(w.target, 'usr/bin/ping')], { encoding: 'utf8' }),
      /user.kiln="capability-stand-in"/,
    );
    assert.ok(lstatSync(join(w.target, 'run-fifo')).isFIFO());
    assert.equal(existsSync(join(work, 'reuse-run', 'img', 'objects')), false, 'memory freed');
  },
);

test(
  'objects: a machine with less than half of the image streams the tarball; no Kiln root is not read',
  { skip },
  async () => {
    const none = await writer('first', null, planOf());
    assert.equal(none.code, 0, none.out);
    assert.match(none.out, /this machine holds 0 of the image's 7 objects \(0 of 0 MiB\): streaming the tarball/);
    assert.equal(none.mounts, '');
    assert.equal(existsSync(join(work, 'first-target', 'etc')), false, 'nothing written');
  },
);

test(
  'objects: a view that does not hash to the plan, or a tampered object, stops before any disk is touched',
  { skip },
  async () => {
    const old = join(work, 'old2');
    put(old, 'usr/lib/big.so', big);
    const plan = planOf();
    const views = plan.image.objects!.views;
    const bad = {
      ...plan,
      image: {
        ...plan.image,
        objects: { ...plan.image.objects!, views: { ...views, mtree: { ...views.mtree, sha256: '0'.repeat(64) } } },
      },
    };
    const v = await writer('badview', old, bad);
    assert.notEqual(v.code, 0);
    assert.match(v.out, /\/mtree: sha256 [0-9a-f]{64}, the plan says 0{64}/);

    // The controller's copy of the os-release object is corrupted: the writer refuses it.
    const files = readFileSync(join(work, 'images', 'manifests', `${plan.image.objects!.manifest}.files`), 'utf8');
    const id = files
      .split('\n')
      .find((l) => l.endsWith(' ./etc/os-release'))!
      .split(' ')[0];
    const objPath = join(work, 'images', 'objects', id.slice(0, 2), id.slice(2));
    const saved = readFileSync(objPath);
    chmodSync(objPath, 0o644);
    writeFileSync(objPath, 'NAME=Evil test\n');
    try {
      const t = await writer('tampered', old, plan);
      assert.notEqual(t.code, 0);
      assert.match(t.out, new RegExp(`object ${id} hashes to [0-9a-f]{64}`));
      assert.equal(existsSync(join(work, 'tampered-target', 'etc')), false);
    } finally {
      writeFileSync(objPath, saved);
    }
  },
);

test(
  'objects: the scan hashes each of 1500 files once (busybox xargs running sha256sum in-process mangled and repeated paths)',
  { skip },
  async () => {
    const old = join(work, 'many-old');
    const runDir = join(work, 'many-run');
    const lines: string[] = [];
    const blob = Buffer.alloc(3000, 9);
    for (let i = 0; i < 1500; i++) {
      const path = `usr/share/dir-with-a-fairly-long-name-${i % 20}/sub-directory-${i % 7}/file-number-${i}-with-some-extra-length.txt`;
      const data = Buffer.concat([blob, Buffer.from(String(i))]);
      mkdirSync(dirname(join(old, path)), { recursive: true });
      writeFileSync(join(old, path), data);
      lines.push(`${createHash('sha256').update(data).digest('hex')} ${data.length} ./${path}`);
    }
    mkdirSync(join(runDir, 'img'), { recursive: true });
    writeFileSync(join(runDir, 'img', 'files'), `${lines.join('\n')}\n`);
    await writer('many-prime', null, planOf()); // installs the busybox and tool directories
    const script = `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/objects.sh"
findfs() { echo /dev/fake3; }
mount() { rmdir "$OBJ_DIR/old" && ln -s "$OLD" "$OBJ_DIR/old"; }
umount() { rm "$OBJ_DIR/old"; }
objects_scan`;
    const r = await run(busybox, ['sh', '-c', script], {
      env: { PATH: join(work, 'bb'), KILN_LIB: agent, KILN_RUN: runDir, KILN_BIN: join(work, 'bin'), OLD: old },
      timeout: 60_000,
    });
    assert.doesNotMatch(r.stderr, /can't open/);
    const ok = readFileSync(join(runDir, 'img', 'reuse.ok'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(ok.length, 1500);
    assert.equal(new Set(ok).size, 1500);
  },
);
