// Test support: a tree with every public file root Kiln serves (ipxe-dir,
// images, a profile, the node image) next to an `outside/` directory, with
// file and directory symlinks inside and out of each root and dotfiles; plus
// the generated traversal names (encodings × depth) the regression tests
// send to every root over HTTP (inject and curl) and TFTP.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { createTestController } from './controller.js';

/** Text found in every file a request must never get (outside a root, dotfiles, link targets). */
export interface Markers {
  outside: string;
  dotfile: string;
}

export interface ServedTree {
  dir: string;
  ipxeDir: string;
  imagesDir: string;
  profilesDir: string;
  nodeImageDir: string;
  markers: Markers;
  /** Files each root must serve, name → content (relative to the URL prefix). */
  good: Record<'ipxe' | 'images' | 'profile' | 'nodeImage', Record<string, string>>;
  /** Boot file names allowed through a link out of ipxe-dir (the dhcp bootFiles). */
  ipxeBootFiles: string[];
  /** After the profiles are loaded: swap a profile's boot file and boot directory for links out of it. */
  swapProfileFilesForLinks(): void;
  remove(): void;
}

const profileYaml = `name: good
description: served-path test profile
os: { family: debian, version: "12" }
arch: x86_64
install:
  method: preseed
boot:
  kernel: boot/linux
  initrd: [boot/initrd.gz]
  cmdline: "auto=true url={{ kiln.filesUrl }}/preseed.cfg"
files:
  - name: preseed.cfg
    template: templates/preseed.cfg
`;

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

/** A root holding regular files, a dotfile and a dot-directory, and links of every kind (the same layout for ipxe-dir and images). */
function fillRoot(root: string, outside: string, m: Markers, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) write(join(root, name), text);
  write(join(root, '.dot'), `${m.dotfile} .dot`);
  write(join(root, '.dotdir', 'x'), `${m.dotfile} .dotdir/x`);
  write(join(root, 'sub', '.hidden'), `${m.dotfile} sub/.hidden`);
  symlinkSync('a.efi', join(root, 'link-in'));
  symlinkSync('sub', join(root, 'dirlink-in'));
  symlinkSync(join(outside, 'secret.txt'), join(root, 'link-out'));
  symlinkSync('../outside/secret.txt', join(root, 'link-out-rel'));
  symlinkSync(join(outside, 'dir'), join(root, 'dirlink-out'));
  symlinkSync('..', join(root, 'dirlink-up'));
  symlinkSync('/', join(root, 'dirlink-slash'));
  symlinkSync('.dot', join(root, 'link-dot'));
  symlinkSync('.dotdir', join(root, 'dirlink-dot'));
  symlinkSync('missing', join(root, 'link-dangling'));
  symlinkSync('link-loop', join(root, 'link-loop'));
  symlinkSync(join(outside, 'ipxe-named.efi'), join(root, 'sub', 'ipxe.efi'));
}

/** Builds the tree under a new temp directory. */
export function createServedTree(): ServedTree {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-served-'));
  const tag = randomBytes(6).toString('hex');
  const markers: Markers = { outside: `OUTSIDE-${tag}`, dotfile: `DOTFILE-${tag}` };
  const outside = join(dir, 'outside');
  write(join(outside, 'secret.txt'), `${markers.outside} secret.txt`);
  write(join(outside, 'dir', 'inner.txt'), `${markers.outside} dir/inner.txt`);
  write(join(outside, 'dir', 'linux'), `${markers.outside} dir/linux`);
  write(join(outside, 'ipxe-named.efi'), 'NAMED-BOOT-FILE');
  write(join(dir, 'admin-token'), `${markers.outside} admin-token`);
  const good = {
    ipxe: {
      'a.efi': 'IPXE-A',
      'sub/b.efi': 'IPXE-SUB-B',
      'link-in': 'IPXE-A',
      'dirlink-in/b.efi': 'IPXE-SUB-B',
      'ipxe.efi': 'NAMED-BOOT-FILE',
    },
    images: {
      'a.efi': 'IMAGE-A',
      'sub/b.efi': 'IMAGE-SUB-B',
      'link-in': 'IMAGE-A',
      'dirlink-in/b.efi': 'IMAGE-SUB-B',
      'img.tar.gz': 'IMAGE-TAR',
    },
    profile: { 'boot/linux': 'PROFILE-LINUX' },
    nodeImage: { 'x86_64/vmlinuz': 'NODE-VMLINUZ' },
  };
  const ipxeDir = join(dir, 'ipxe');
  fillRoot(ipxeDir, outside, markers, { 'a.efi': 'IPXE-A', 'sub/b.efi': 'IPXE-SUB-B' });
  // The named boot file: a link out of the root, as Debian installs /usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi.
  symlinkSync(join(outside, 'ipxe-named.efi'), join(ipxeDir, 'ipxe.efi'));
  const imagesDir = join(dir, 'images');
  fillRoot(imagesDir, outside, markers, { 'a.efi': 'IMAGE-A', 'sub/b.efi': 'IMAGE-SUB-B', 'img.tar.gz': 'IMAGE-TAR' });
  // A link named like a boot file is not one in the images root.
  symlinkSync(join(outside, 'ipxe-named.efi'), join(imagesDir, 'ipxe.efi'));
  const profilesDir = join(dir, 'profiles');
  const p = join(profilesDir, 'good');
  write(join(p, 'profile.yaml'), profileYaml);
  write(join(p, 'templates', 'preseed.cfg'), 'd-i netcfg/get_hostname string {{ host.hostname }}\n');
  write(join(p, 'boot', 'linux'), 'PROFILE-LINUX');
  write(join(p, 'boot', 'initrd.gz'), 'PROFILE-INITRD');
  write(join(p, 'kern', 'linux'), 'PROFILE-KERN-LINUX');
  write(join(p, '.git', 'config'), `${markers.dotfile} .git/config`);
  const nodeImageDir = join(dir, 'nodeimg');
  write(join(nodeImageDir, 'vmlinuz'), 'NODE-VMLINUZ');
  symlinkSync(join(outside, 'secret.txt'), join(nodeImageDir, 'initrd.img'));
  return {
    dir,
    ipxeDir,
    imagesDir,
    profilesDir,
    nodeImageDir,
    markers,
    good,
    ipxeBootFiles: ['undionly.kpxe', 'ipxe.efi', 'ipxe-arm64.efi'],
    swapProfileFilesForLinks() {
      rmSync(join(p, 'boot', 'initrd.gz'));
      symlinkSync(join(outside, 'secret.txt'), join(p, 'boot', 'initrd.gz'));
      renameSync(join(p, 'kern'), join(dir, 'kern-moved'));
      symlinkSync(join(outside, 'dir'), join(p, 'kern'));
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Percent-encoded (or raw) spellings of '.' and of '/', as an attacker sends them in a URL. */
export const urlDots = ['.', '%2e', '%2E', '%252e', '%c0%ae', '%e0%80%ae', '%ef%bc%8e'];
export const urlSlashes = [
  '/',
  '%2f',
  '%2F',
  '%252f',
  '%25252f',
  '\\',
  '%5c',
  '%5C',
  '%255c',
  '%c0%af',
  '%e0%80%af',
  '%ef%bc%8f',
];

/**
 * Generated URL tails (after a root's prefix): every dot spelling × every
 * slash spelling × climbs towards `outside/secret.txt` (1–4 levels for
 * the plain spellings, 2 for the rest) and past every root, plus
 * dotfiles, NUL, empty and dot segments, and every symlink of the tree.
 */
export function traversalUrlTails(): string[] {
  const out = new Set<string>();
  for (const d of urlDots) {
    for (const s of urlSlashes) {
      // Depth 1 reaches outside/ from ipxe-dir and images, 2 from a profile; 8 climbs past any root.
      for (const depth of d === '.' || s === '/' ? [1, 2, 3, 4] : [2])
        out.add(`${`${d}${d}${s}`.repeat(depth)}outside${s}secret.txt`);
      out.add(`sub${s}${d}${d}${s}${d}${d}${s}outside${s}secret.txt`);
      out.add(
        `${d}${d}${s}${d}${d}${s}${d}${d}${s}${d}${d}${s}${d}${d}${s}${d}${d}${s}${d}${d}${s}${d}${d}${s}etc${s}passwd`,
      );
    }
    out.add(`${d}dot`);
    out.add(`sub/${d}hidden`);
    out.add(`${d}dotdir/x`);
  }
  for (const t of [
    '.dot',
    '.dotdir/x',
    'sub/.hidden',
    '%2edot',
    '.%64ot',
    './a.efi',
    'sub/./b.efi',
    'sub/../a.efi',
    '/a.efi',
    'sub//b.efi',
    'a.efi/',
    'sub',
    'sub/',
    '',
    '.',
    '..',
    '...',
    '....//outside/secret.txt',
    '..;/outside/secret.txt',
    'a.efi%00',
    'a.efi%00.png',
    '%00',
    '%00/a.efi',
    'a.efi%2500',
    'a%0ab',
    'a%0d%0aSet-Cookie:x',
    '%7f',
    '%ff',
    '%c0',
    '%',
    'a%zz',
    '%2fetc%2fpasswd',
    '/etc/passwd',
    '//etc/passwd',
    'C:%5cwindows',
    'sub%5c..%5c..%5coutside%5csecret.txt',
    'link-out',
    'link-out-rel',
    'dirlink-out/inner.txt',
    'dirlink-out/linux',
    'dirlink-up/outside/secret.txt',
    'dirlink-slash/etc/passwd',
    'link-dot',
    'dirlink-dot/x',
    'link-dangling',
    'link-loop',
    'sub/ipxe.efi',
    'dirlink-in/../a.efi',
    'dirlink-in/.hidden',
    'admin-token',
    '../admin-token',
    `${'a/'.repeat(600)}x`,
    'x'.repeat(2000),
  ])
    out.add(t);
  return [...out];
}

/** Raw TFTP request names (latin1 wire strings): the same classes, in TFTP's spelling ('\' is a separator there). */
export function traversalTftpNames(): string[] {
  const out = new Set<string>();
  const dots = ['.', '\u00c0\u00ae', '\u00e0\u0080\u00ae', '\u00ef\u00bc\u008e'];
  const slashes = ['/', '\\', '\u00c0\u00af', '\u00ef\u00bc\u008f'];
  for (const d of dots) {
    for (const s of slashes) {
      for (let depth = 1; depth <= 3; depth++) out.add(`${`${d}${d}${s}`.repeat(depth)}outside${s}secret.txt`);
    }
    out.add(`${d}dot`);
  }
  for (const t of [
    '.dot',
    '.dotdir/x',
    'sub/.hidden',
    '\\.dot',
    '/.dot',
    'sub\\.hidden',
    'sub/../a.efi',
    '..',
    '...',
    '%2e%2e/outside/secret.txt',
    'a%41',
    'a.efi\u0000',
    'a\u0001b',
    '\u00ff',
    '\u00c0',
    'link-out',
    'link-out-rel',
    'dirlink-out/inner.txt',
    'dirlink-up/outside/secret.txt',
    'dirlink-slash/etc/passwd',
    'link-dot',
    'dirlink-dot/x',
    'link-dangling',
    'link-loop',
    'sub/ipxe.efi',
    'dirlink-in\\..\\..\\outside\\secret.txt',
    '../admin-token',
  ])
    out.add(t);
  return [...out];
}

/**
 * A controller serving a new served tree from every static root, with its HTTP
 * log lines captured (at debug); both are removed when test `t` ends.
 */
export async function startServedController(t: TestContext) {
  const tree = createServedTree();
  t.after(() => tree.remove());
  const lines: Array<{ level: number; msg?: string }> = [];
  const httpLogger = pino(
    { level: 'debug' },
    {
      write: (s: string) => {
        lines.push(JSON.parse(s) as { level: number });
      },
    },
  );
  const c = await createTestController({
    profilesDir: tree.profilesDir,
    httpLogger,
    boot: {
      ipxeDir: tree.ipxeDir,
      imagesDir: tree.imagesDir,
      ipxeBootFiles: tree.ipxeBootFiles,
      nodeImage: () => ({ dir: tree.nodeImageDir, arch: 'x86_64' }),
    },
  });
  t.after(() => c.close());
  return { tree, c, lines };
}
