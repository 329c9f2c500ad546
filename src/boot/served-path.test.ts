// Regression (issue 11, items 4 and 9): every public file root (HTTP /ipxe/,
// /images/, /boot/profiles/<p>/, /boot/kiln/<arch>/ and the TFTP root) gets the
// generated traversal names (encodings × depth, dotfiles, NUL, file and
// directory symlinks inside and out of the root). Each must be refused with a
// 4xx and Kiln's error body (HTTP) or a TFTP error, never a 500, never bytes
// from outside the root or a dotfile, and never a log line at warn or above.
// Real clients (curl --path-as-is, tftp-hpa) meet the same tree in
// served-files.int.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  createServedTree,
  startServedController,
  traversalTftpNames,
  traversalUrlTails,
} from '../../test/support/served-roots.js';
import { defaultBootFiles } from './boot-decision.js';
import { checkServedName } from '../protocols/served-name.js';
import { createServedRoot } from './served-path.js';
import { createDirectorySource } from './tftp/directory-source.js';
import { resolveTftpPath } from './tftp/tftp-path.js';
import { loadProfiles } from '../profile/load-profiles.js';

/** True when the router cannot percent-decode the path (the framework's bad-URL answer, 400). */
function undecodable(path: string): boolean {
  try {
    decodeURIComponent(path);
    return false;
  } catch {
    return true;
  }
}

test('name rule (property): an accepted name never climbs, never names a dotfile, never holds \\ % NUL or a control character', () => {
  fc.assert(
    fc.property(
      fc.string({
        unit: fc.constantFrom('.', '/', '\\', '%', 'a', '\u0000', '\n', '\u00ae', '\ufffd', 'é'),
        maxLength: 24,
      }),
      (name) => {
        const r = checkServedName(name);
        if (!r.ok) return;
        assert.ok(!/[\\%\u0000-\u001f\ufffd]/u.test(name), name);
        for (const seg of name.split('/')) assert.ok(seg !== '' && !seg.startsWith('.'), name);
        assert.ok(join('/root', name).startsWith('/root/'), name);
      },
    ),
    { numRuns: 3000 },
  );
});

test("every static root × generated traversal names (inject): 4xx with Kiln's body, no outside bytes, nothing logged at warn or above", async (t) => {
  const { tree, c, lines } = await startServedController(t);
  assert.deepEqual(c.profiles.errors(), []);
  assert.ok(c.profiles.get('good'));
  tree.swapProfileFilesForLinks();

  const roots = [
    { prefix: '/ipxe/', good: tree.good.ipxe },
    { prefix: '/images/', good: tree.good.images },
    { prefix: '/boot/profiles/good/', good: tree.good.profile },
    { prefix: '/boot/profiles/', good: {} },
    { prefix: '/boot/kiln/x86_64/', good: { vmlinuz: 'NODE-VMLINUZ' } },
    { prefix: '/boot/kiln/', good: tree.good.nodeImage },
  ];
  // The files each root must still serve.
  for (const r of roots) {
    for (const [name, body] of Object.entries(r.good)) {
      const res = await c.app.inject({ method: 'GET', url: `${r.prefix}${name}` });
      assert.equal(res.statusCode, 200, `${r.prefix}${name}`);
      assert.equal(res.payload, body, `${r.prefix}${name}`);
    }
  }
  // A profile boot file swapped for a link (file and directory) after load is not followed.
  for (const url of [
    '/boot/profiles/good/boot/initrd.gz',
    '/boot/profiles/good/kern/linux',
    '/boot/kiln/x86_64/initrd.img',
  ]) {
    const res = await c.app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.json().error.code, 'not_found', url);
  }

  const tails = traversalUrlTails();
  let sent = 0;
  const statuses = new Map<number, number>();
  const jobs = roots.flatMap((r) =>
    tails.flatMap((tail, i) =>
      (i % 7 === 0 ? (['GET', 'HEAD'] as const) : (['GET'] as const)).map((method) => ({ r, tail, method })),
    ),
  );
  // 32 at a time: the rule's realpath and stat calls overlap; each answer is checked on its own.
  for (let i = 0; i < jobs.length; i += 32) {
    await Promise.all(
      jobs.slice(i, i + 32).map(async ({ r, tail, method }) => {
        const goodBodies = new Set(Object.values(r.good));
        {
          const url = `${r.prefix}${tail}`;
          const res = await c.app.inject({ method, url });
          sent++;
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          const where = `${method} ${url} -> ${res.statusCode} ${res.payload.slice(0, 160)}`;
          assert.ok(!res.payload.includes(tree.markers.outside) && !res.payload.includes(tree.markers.dotfile), where);
          if (res.statusCode === 200) {
            // Only when the client itself normalized the URL (WHATWG: `a/../b`, `%2e%2e`, `\`) onto a file of this root.
            const normalized = new URL(url, 'http://x').pathname;
            assert.notEqual(normalized, url, where);
            assert.ok(
              method === 'HEAD' ||
                goodBodies.has(res.payload) ||
                Object.values(tree.good).some((g) => Object.values(g).includes(res.payload)),
              where,
            );
            return;
          }
          // Answered by the router before any route (body and code: the API's framework-error handler): a path that is
          // not valid percent-encoding (400), or a route parameter longer than the router's limit (414).
          if (res.statusCode === 400) {
            assert.ok(undecodable(new URL(url, 'http://x').pathname), where);
            return;
          }
          if (res.statusCode === 414) {
            assert.ok(url.length > 100, where);
            return;
          }
          // The client normalized the URL to `/` (`/ipxe/..`): the web UI's overview, which needs a login.
          if (res.statusCode === 401) {
            assert.equal(new URL(url, 'http://x').pathname, '/', where);
            return;
          }
          assert.ok(res.statusCode === 404 || res.statusCode === 403, where);
          if (method === 'GET') {
            const body = res.json() as { error?: { code?: string; message?: string; id?: string } };
            assert.ok(body.error?.code && body.error.message && body.error.id, where);
          }
        }
      }),
    );
  }
  assert.ok(sent > 1000, `only ${sent} requests generated`);
  assert.ok(!statuses.has(500), JSON.stringify([...statuses]));
  // Range and precondition failures from the library are Kiln errors too, not 500s.
  const range = await c.app.inject({ method: 'GET', url: '/ipxe/a.efi', headers: { range: 'bytes=999999-' } });
  assert.equal(range.statusCode, 416);
  assert.equal(range.json().error.code, 'range_not_satisfiable');
  assert.equal(range.headers['content-range'], 'bytes */6');
  const pre = await c.app.inject({
    method: 'GET',
    url: '/boot/profiles/good/boot/linux',
    headers: { 'if-match': '"nope"' },
  });
  assert.equal(pre.statusCode, 412);
  assert.equal(pre.json().error.code, 'precondition_failed');

  const loud = lines.filter((l) => l.level >= 40);
  assert.deepEqual(loud.slice(0, 3), [], `${loud.length} log lines at warn or above`);
  assert.ok(
    lines.some((l) => l.msg === 'boot file refused' && l.level === 20),
    'refusals are logged at debug',
  );
});

test('TFTP root × generated names: the same rule (dotfiles, links out, climbs) gives ERROR 1 or 2, never outside bytes', async (t) => {
  const tree = createServedTree();
  t.after(() => tree.remove());
  const source = await createDirectorySource(tree.ipxeDir, { bootFiles: tree.ipxeBootFiles });
  const client = { address: '127.0.0.1', port: 1 };
  const read = async (wire: string): Promise<string | { error: string }> => {
    const p = resolveTftpPath(wire);
    if (!p.ok) return { error: 'access_violation' };
    const l = await source(p.path, client);
    if ('error' in l) return { error: l.error };
    const bytes = await l.file.read(0, l.file.size);
    await l.file.close();
    return new TextDecoder().decode(bytes);
  };
  for (const [name, body] of Object.entries(tree.good.ipxe)) assert.equal(await read(name), body, name);
  assert.equal(await read('\\sub\\b.efi'), 'IPXE-SUB-B', 'Windows separators still work');
  for (const wire of traversalTftpNames()) {
    const got = await read(wire);
    assert.equal(typeof got, 'object', `${JSON.stringify(wire)} was served: ${String(got)}`);
  }
  // HTTP and TFTP agree on every generated name: the one rule.
  const http = createServedRoot(tree.ipxeDir, { linkedFiles: tree.ipxeBootFiles });
  for (const wire of traversalTftpNames()) {
    const p = resolveTftpPath(wire);
    if (!p.ok) continue;
    const viaHttp = await http.resolve(p.path);
    const viaTftp = await source(p.path, client);
    assert.equal(viaHttp.ok, !('error' in viaTftp), wire);
    if ('file' in viaTftp) await viaTftp.file.close();
  }
});

test('profile loader: a link in any profile subdirectory, the profile itself, or _snippets is refused at load, naming the file', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'kiln-profile-links-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  writeFileSync(join(base, 'shadow'), 'root:$6$secret');
  const good = (dir: string, name: string): void => {
    mkdirSync(join(dir, name, 'templates'), { recursive: true });
    writeFileSync(
      join(dir, name, 'profile.yaml'),
      `name: ${name}\ndescription: d\nos: { family: debian, version: "12" }\narch: x86_64\ninstall:\n  method: preseed\nboot:\n  kernel: http://x/linux\n  initrd: [http://x/initrd.gz]\n  cmdline: "auto=true"\nfiles:\n  - name: preseed.cfg\n    template: templates/preseed.cfg\n`,
    );
    writeFileSync(join(dir, name, 'templates', 'preseed.cfg'), 'x\n');
  };
  const places = ['', 'boot', 'templates', 'scripts', 'snippets', 'boot/deep'];
  const dir = join(base, 'profiles');
  for (const [i, place] of places.entries()) {
    for (const kind of ['file', 'dir'] as const) {
      const name = `p${i}${kind}`;
      good(dir, name);
      mkdirSync(join(dir, name, place), { recursive: true });
      const link = join(dir, name, place, kind === 'file' ? 'shadow' : 'etc');
      symlinkSync(kind === 'file' ? join(base, 'shadow') : '/etc', link);
    }
  }
  good(dir, 'clean');
  symlinkSync(join(dir, 'clean'), join(dir, 'aliased'));
  const { profiles, errors } = await loadProfiles(dir);
  assert.deepEqual([...profiles.keys()], ['clean']);
  const named = errors.flatMap((e) => e.issues.filter((i) => i.code === 'symlink').map((i) => i.path)).sort();
  const want = [...places.entries()].flatMap(([i, place]) =>
    ['file', 'dir'].map(
      (kind) => `profiles/p${i}${kind}/${place ? `${place}/` : ''}${kind === 'file' ? 'shadow' : 'etc'}:1:1`,
    ),
  );
  assert.deepEqual(named, [...want, 'profiles/aliased:1:1'].sort());
  for (const e of errors) assert.match(e.message, /symlink/);

  // _snippets: a link to the admin token (or _snippets itself being a link) fails every profile instead of rendering the file.
  const withShared = join(base, 'shared');
  good(withShared, 'clean');
  mkdirSync(join(withShared, '_snippets'));
  writeFileSync(join(withShared, '_snippets', 'ok.sh'), 'echo ok\n');
  symlinkSync(join(base, 'shadow'), join(withShared, '_snippets', 'token.sh'));
  const s = await loadProfiles(withShared);
  assert.equal(s.profiles.size, 0);
  assert.deepEqual(
    s.errors[0].issues.map((i) => [i.path, i.code]),
    [['shared/_snippets/token.sh:1:1', 'symlink']],
  );
  const linkedDir = join(base, 'linked');
  good(linkedDir, 'clean');
  symlinkSync(join(withShared, '_snippets'), join(linkedDir, '_snippets'));
  const l = await loadProfiles(linkedDir);
  assert.equal(l.profiles.size, 0);
  assert.deepEqual(
    l.errors[0].issues.map((i) => [i.path, i.code]),
    [['linked/_snippets:1:1', 'symlink']],
  );
});

test(
  "Debian's /usr/lib/ipxe under the rule: the named ipxe.efi link out of it and the *.rom links inside it are served, ipxe.lkrn -> /boot is not",
  { skip: existsSync('/usr/lib/ipxe/ipxe.efi') ? false : "needs Debian's ipxe package" },
  async () => {
    const root = createServedRoot('/usr/lib/ipxe', { linkedFiles: Object.values(defaultBootFiles) });
    for (const name of ['ipxe.efi', 'undionly.kpxe', '82540em.rom', 'qemu/pxe-e1000.rom']) {
      const r = await root.resolve(name);
      assert.ok(r.ok, `${name}: ${'reason' in r ? r.reason : ''}`);
    }
    const lkrn = await root.resolve('ipxe.lkrn');
    assert.ok(!lkrn.ok && lkrn.reason.includes('outside'), 'a link out of the root that is not a configured boot file');
    // TFTP gives the same answers (the one rule).
    const tftp = await createDirectorySource('/usr/lib/ipxe', { bootFiles: Object.values(defaultBootFiles) });
    const efi = await tftp('ipxe.efi', { address: '127.0.0.1', port: 1 });
    assert.ok('file' in efi);
    await efi.file.close();
    assert.equal(
      ((await tftp('ipxe.lkrn', { address: '127.0.0.1', port: 1 })) as { error: string }).error,
      'access_violation',
    );
  },
);
