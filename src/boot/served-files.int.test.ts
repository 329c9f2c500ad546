// Regression (issue 11, items 4 and 9) with real clients: the generated
// traversal names of served-path.test.ts, sent as-is by curl (--path-as-is,
// one curl process for all URLs) to a listening controller on 127.0.0.1, and
// by tftp-hpa (-m binary … -c get) to Kiln's TFTP server on 127.0.0.1. Every
// answer is a 4xx or a TFTP error, never a 500, never a byte from outside a
// root or from a dotfile, and nothing is logged at warn or above.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createServedTree,
  startServedController,
  traversalTftpNames,
  traversalUrlTails,
} from '../../test/support/served-roots.js';
import { createMemoryLogger } from '../log/logger.js';
import { createDirectorySource } from './tftp/directory-source.js';
import { defaultTftpConfig } from './tftp/tftp-config.js';
import { startTftpServer } from './tftp/tftp-server.js';

const tools = { curl: '/usr/bin/curl', tftp: '/usr/bin/tftp' };
const missing = Object.entries(tools)
  .filter(([, p]) => !existsSync(p))
  .map(([n]) => n);
const skip = missing.length > 0 ? `client(s) not installed: ${missing.join(', ')}` : false;

function run(
  cmd: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

const undecodable = (path: string): boolean => {
  try {
    decodeURIComponent(path);
    return false;
  } catch {
    return true;
  }
};

test(
  'curl --path-as-is × every static root × generated names against a listening controller',
  { skip, timeout: 120_000 },
  async (t) => {
    const { tree, c, lines } = await startServedController(t);
    tree.swapProfileFilesForLinks();
    const base = await c.app.listen({ host: '127.0.0.1', port: 0 });

    const prefixes = [
      '/ipxe/',
      '/images/',
      '/boot/profiles/good/',
      '/boot/profiles/',
      '/boot/kiln/x86_64/',
      '/boot/kiln/',
    ];
    const good = [
      ...Object.entries(tree.good.ipxe).map(([n, b]) => [`/ipxe/${n}`, b]),
      ...Object.entries(tree.good.images).map(([n, b]) => [`/images/${n}`, b]),
      ['/boot/profiles/good/boot/linux', 'PROFILE-LINUX'],
      ['/boot/kiln/x86_64/vmlinuz', 'NODE-VMLINUZ'],
    ] as Array<[string, string]>;
    const bad = [
      ...prefixes.flatMap((p) => traversalUrlTails().map((tail) => `${p}${tail}`)),
      '/boot/profiles/good/boot/initrd.gz',
      '/boot/profiles/good/kern/linux',
      '/boot/kiln/x86_64/initrd.img',
    ];
    const outDir = join(tree.dir, 'curl-out');
    mkdirSync(outDir);
    const urls = [...good.map(([u]) => u), ...bad];
    // One curl for every URL (a config file: no argv limit), 8 at a time; each body to its own file, one status line per URL naming it.
    const config = [
      'path-as-is',
      'globoff',
      'silent',
      'parallel',
      'parallel-max = 8',
      'write-out = "%{http_code} %{filename_effective}\\n"',
      ...urls.flatMap((u, i) => [
        `url = "${base}${u.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`,
        `output = "${join(outDir, String(i))}"`,
      ]),
    ].join('\n');
    writeFileSync(join(tree.dir, 'curl.conf'), `${config}\n`);
    const r = await run(tools.curl, ['--config', join(tree.dir, 'curl.conf')], 100_000);
    const codes: number[] = [];
    for (const line of r.stdout.trim().split('\n')) {
      const [code, file] = line.split(' ');
      codes[Number(file.slice(outDir.length + 1))] = Number(code);
    }
    assert.equal(codes.filter((x) => x !== undefined).length, urls.length, r.stderr);
    const body = (i: number): string =>
      existsSync(join(outDir, String(i))) ? readFileSync(join(outDir, String(i)), 'utf8') : '';
    good.forEach(([u, want], i) => {
      assert.equal(codes[i], 200, u);
      assert.equal(body(i), want, u);
    });
    const seen = new Map<number, number>();
    bad.forEach((u, j) => {
      const i = good.length + j;
      const code = codes[i];
      const text = body(i);
      seen.set(code, (seen.get(code) ?? 0) + 1);
      const where = `${u} -> ${code} ${text.slice(0, 160)}`;
      assert.ok(!text.includes(tree.markers.outside) && !text.includes(tree.markers.dotfile), where);
      // Router-level answers (the API's framework errors): a path that is not valid percent-encoding, a parameter over the router's limit.
      if (code === 400) {
        assert.ok(undecodable(u), where);
        return;
      }
      if (code === 414) {
        assert.ok(u.length > 100, where);
        return;
      }
      assert.ok(code === 404 || code === 403, where);
      const e = (JSON.parse(text) as { error?: { code?: string; message?: string; id?: string } }).error;
      assert.ok(e?.code && e.message && e.id, where);
    });
    assert.ok(bad.length > 1000 && (seen.get(404) ?? 0) > 1000, JSON.stringify([...seen]));
    const loud = lines.filter((l) => l.level >= 40);
    assert.deepEqual(loud.slice(0, 3), [], `${loud.length} log lines at warn or above`);
  },
);

test(
  'tftp-hpa × the TFTP root (ipxe-dir) × generated names: a TFTP error each, never outside bytes',
  { skip, timeout: 120_000 },
  async (t) => {
    const tree = createServedTree();
    t.after(() => tree.remove());
    const log = createMemoryLogger();
    const server = await startTftpServer({
      config: { ...defaultTftpConfig, address: '127.0.0.1', retransmitMs: 200, maxRetries: 2 },
      source: await createDirectorySource(tree.ipxeDir, { bootFiles: tree.ipxeBootFiles }),
      log,
      port: 0,
    });
    t.after(() => server.close());
    const port = String(server.address.port);
    const out = join(tree.dir, 'tftp-out');
    mkdirSync(out);
    // The wire name is bytes: bash's printf turns \xHH escapes into them (argv strings would be re-encoded as UTF-8).
    const get = (wire: string, local: string) => {
      const escaped = [...wire].map((ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
      return run(
        '/bin/bash',
        ['-c', 'exec "$0" -m binary 127.0.0.1 "$1" -c get "$(printf %b "$2")" "$3"', tools.tftp, port, escaped, local],
        20_000,
      );
    };
    for (const [name, want] of Object.entries(tree.good.ipxe)) {
      const local = join(out, `good-${name.replace(/\//g, '_')}`);
      const r = await get(name, local);
      assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
      assert.equal(readFileSync(local, 'utf8'), want, name);
    }
    const names = traversalTftpNames().filter((n) => !n.includes('\u0000'));
    for (const [i, wire] of names.entries()) {
      const local = join(out, `bad-${i}`);
      const r = await get(wire, local);
      const where = `${JSON.stringify(wire)}: ${r.stdout}${r.stderr}`;
      assert.match(r.stdout + r.stderr, /Error code [12]: (file not found|access violation)/, where);
      const text = existsSync(local) ? readFileSync(local, 'utf8') : '';
      assert.ok(!text.includes(tree.markers.outside) && !text.includes(tree.markers.dotfile), where);
      rmSync(local, { force: true });
    }
    const loud = log.lines.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal');
    assert.deepEqual(loud.slice(0, 3), [], `${loud.length} log lines at warn or above`);
  },
);
