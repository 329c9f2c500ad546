/**
 * A small upstream Debian archive for repo tests, built on the spot: tiny
 * packages made with dpkg-deb, indexes by apt-ftparchive, Release signed by a
 * throwaway key (its own GNUPGHOME, via the repo domain's key code), and a
 * static HTTP server on loopback. Several suites (a main suite, an updates
 * and a security suite with newer versions), a main/debian-installer
 * component with udebs for two kernel ABIs, and a fake netboot image tree
 * whose initrd names its kernel ABI (`lib/modules/<abi>`).
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeCpioNewc } from '../../src/discovery/cpio-newc.js';
import { writeRelease } from '../../src/repo/publish-repo.js';
import { openRepoKey, writePublicKey } from '../../src/repo/repo-key.js';

/** One package of the fixture. */
export interface FixturePackage {
  name: string;
  version: string;
  depends?: string;
  priority?: string;
  /** A udeb (main/debian-installer). */
  udeb?: boolean;
}

/** Where a suite lives: the archive root under the server (`/debian`, `/security`) and its packages. */
export interface FixtureSuite {
  root: string;
  suite: string;
  packages: FixturePackage[];
}

/** A built and served fixture archive. */
export interface FixtureArchive {
  dir: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The throwaway key's public keyring (binary): what upstream InRelease files verify with. */
  keyring: string;
  /** A fake debian-installer netboot image tree (installerImages) whose initrd is for `abi`. */
  images: string;
  /** Files the server answers 404 for (by path suffix), though the index lists them. */
  hidden: Set<string>;
  /** Files the server answers with one byte changed (by path suffix). */
  tampered: Set<string>;
  /** Requests the server answered, as `status path`. */
  requests: string[];
  close(): Promise<void>;
}

const sh = (cmd: string, args: string[], cwd?: string) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });

function buildDeb(out: string, p: FixturePackage, work: string): string {
  const ext = p.udeb ? 'udeb' : 'deb';
  const src = join(work, `${p.name}-${p.version}`);
  mkdirSync(join(src, 'DEBIAN'), { recursive: true });
  mkdirSync(join(src, 'usr/share/doc', p.name), { recursive: true });
  writeFileSync(join(src, 'usr/share/doc', p.name, 'README'), `${p.name} ${p.version}\n`);
  writeFileSync(
    join(src, 'DEBIAN/control'),
    [
      `Package: ${p.name}`,
      `Version: ${p.version}`,
      'Architecture: amd64',
      'Maintainer: fixture <fixture@localhost>',
      ...(p.depends ? [`Depends: ${p.depends}`] : []),
      ...(p.udeb ? ['Section: debian-installer'] : []),
      `Priority: ${p.priority ?? 'optional'}`,
      `Description: fixture package ${p.name}`,
      '',
    ].join('\n'),
  );
  const file = join(out, `${p.name}_${p.version.replace(/^\d+:/, '')}_amd64.${ext}`);
  sh('dpkg-deb', ['--root-owner-group', '-Zgzip', '-b', src, file]);
  return file;
}

/** Builds the archive under a temporary directory and serves it on 127.0.0.1 (a free port). */
export async function fixtureArchive(suites: readonly FixtureSuite[], abi: string): Promise<FixtureArchive> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-fixture-archive-'));
  const work = join(dir, '.work');
  const key = await openRepoKey(join(dir, '.gnupg'));
  try {
    for (const s of suites) {
      const root = join(dir, s.root);
      for (const [kind, pkgs] of [
        ['deb', s.packages.filter((p) => !p.udeb)],
        ['udeb', s.packages.filter((p) => p.udeb)],
      ] as const) {
        if (pkgs.length === 0 && kind === 'udeb') continue;
        const pool = join('pool', s.suite, kind);
        mkdirSync(join(root, pool), { recursive: true });
        for (const p of pkgs) buildDeb(join(root, pool), p, work);
        const index = sh(
          'apt-ftparchive',
          ['-o', `APT::FTPArchive::Packages::Extensions=.${kind}`, 'packages', pool],
          root,
        ).toString();
        const bin = join(
          root,
          'dists',
          s.suite,
          'main',
          ...(kind === 'udeb' ? ['debian-installer'] : []),
          'binary-amd64',
        );
        mkdirSync(bin, { recursive: true });
        writeFileSync(join(bin, 'Packages'), index);
        writeFileSync(join(bin, 'Packages.gz'), gzipSync(index));
      }
      await writeRelease(join(root, 'dists', s.suite), s.suite, ['amd64'], key);
    }
    const keyring = join(dir, 'fixture-keyring.gpg');
    await writePublicKey(key, keyring, join(dir, 'fixture-keyring.asc'));
    const images = join(dir, 'images');
    const netboot = join(images, '12', 'amd64', 'text', 'debian-installer', 'amd64');
    mkdirSync(netboot, { recursive: true });
    writeFileSync(join(netboot, 'linux'), 'fixture kernel\n');
    writeFileSync(join(netboot, 'initrd.gz'), fixtureInitrd(abi));
    rmSync(work, { recursive: true, force: true });
  } finally {
    await key.close();
  }
  const hidden = new Set<string>();
  const tampered = new Set<string>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = join(dir, path);
    const st = path.includes('/.') || [...hidden].some((h) => path.endsWith(h)) ? null : statOrNull(file);
    if (!st?.isFile()) {
      requests.push(`404 ${path}`);
      res.writeHead(404).end();
      return;
    }
    requests.push(`200 ${path}`);
    res.writeHead(200, { 'content-length': st.size });
    if (req.method === 'HEAD') res.end();
    else if ([...tampered].some((h) => path.endsWith(h))) {
      const body = readFileSync(file);
      body[body.length - 1] ^= 0xff;
      res.end(body);
    } else createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    dir,
    url: `http://127.0.0.1:${port}`,
    keyring: join(dir, 'fixture-keyring.gpg'),
    images: join(dir, 'images'),
    hidden,
    tampered,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function statOrNull(file: string) {
  try {
    return statSync(file);
  } catch {
    return null;
  }
}

/** A gzip'd initrd (cpio newc) holding `lib/modules/<abi>/`, as Debian's netboot initrd names its kernel ABI. */
export function fixtureInitrd(abi: string): Buffer {
  return gzipSync(
    encodeCpioNewc([
      { kind: 'dir', path: 'lib', mode: 0o755 },
      { kind: 'dir', path: 'lib/modules', mode: 0o755 },
      { kind: 'dir', path: `lib/modules/${abi}`, mode: 0o755 },
      { kind: 'file', path: 'init', mode: 0o755, data: new TextEncoder().encode('#!/bin/sh\n') },
    ]),
  );
}
