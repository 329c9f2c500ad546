import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hasCode } from '../error/kiln-error.js';
import { loadProfiles } from '../profile/load-profiles.js';
import type { LoadedProfile } from '../profile/loaded-profile.js';
import { repoProfilesDir } from '../../test/support/controller.js';
import { overrides } from '../profile/testdata/render-all.js';
import { sampleContext } from '../profile/testdata/sample-context.js';
import { renderCompiled } from '../profile/render-profile-file.js';
import { bootSpecPaths } from '../profile/render-boot-spec.js';
import { imageSpecPaths } from '../profile/render-image-spec.js';
import { createTemplateRenderer, KILL_GRACE_MS, type TemplateRenderer } from './render-pool.js';

// Rendering runs in a worker thread with a time limit (the worker is killed)
// and an output limit. Each hostile template here is one that liquidjs' own
// limits do not stop in time or at all: a single filter call that runs for
// minutes (liquidjs checks the clock only between tags), an empty-bodied
// nested loop, and output grown by loops, captures and padding filters.

const yaml = `name: p
description: test profile
os: { family: debian, version: "12" }
arch: x86_64
install:
  method: preseed
boot:
  kernel: "http://deb.example.org/linux"
  initrd: ["http://deb.example.org/initrd.gz"]
  cmdline: "auto=true url={{ kiln.filesUrl }}/preseed.cfg"
files:
  - name: preseed.cfg
    template: templates/preseed.cfg
`;

const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

/** Loads a one-template profile whose preseed.cfg is `template`. */
async function profileWith(template: string): Promise<LoadedProfile> {
  const root = await mkdtemp(join(tmpdir(), 'render-pool-'));
  roots.push(root);
  for (const [rel, text] of Object.entries({
    'profiles/p/profile.yaml': yaml,
    'profiles/p/templates/preseed.cfg': template,
  })) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), text);
  }
  const { profiles, errors } = await loadProfiles(join(root, 'profiles'));
  assert.deepEqual(errors, []);
  return profiles.get('p')!;
}

// One renderer for the whole file: a worker takes a second or more to start
// under tsx, so the tests share it (and each kill costs a restart).
const timeoutMs = 300;
const r: TemplateRenderer = createTemplateRenderer({ timeoutMs, maxOutputBytes: 64 * 1024, maxQueued: 1 });
// The output-limit cases get a time limit they never reach, so only the output limit can stop them.
const big: TemplateRenderer = createTemplateRenderer({ timeoutMs: 20_000, maxOutputBytes: 64 * 1024 });
after(() => Promise.all([r.close(), big.close()]));

const preseed = (p: LoadedProfile) => p.files.get('preseed.cfg')!.virtualPath;

/** Renders preseed.cfg and returns the error, the time it took and how often the main event loop ran meanwhile. */
async function failing(r: TemplateRenderer, p: LoadedProfile) {
  let ticks = 0;
  const tick = setInterval(() => {
    ticks++;
  }, 5);
  const t0 = performance.now();
  try {
    await r.render(p, [preseed(p)], sampleContext(p));
  } catch (err) {
    return { err, ms: performance.now() - t0, ticks };
  } finally {
    clearInterval(tick);
  }
  assert.fail('the render should have failed');
}

describe('template render worker', () => {
  it('renders every shipped profile exactly as an in-thread render does', { timeout: 60_000 }, async () => {
    const { profiles } = await loadProfiles(repoProfilesDir);
    assert.ok(profiles.size > 0);
    for (const p of profiles.values()) {
      const paths = [
        ...new Set([...[...p.files.values()].map((f) => f.virtualPath), ...bootSpecPaths(p), ...imageSpecPaths(p)]),
      ];
      const ctx = sampleContext(p, overrides[p.name]);
      const texts = await r.render(p, paths, ctx);
      const all = new Map(
        [
          ...p.files.values(),
          p.boot.cmdline,
          p.boot.kernel,
          ...p.boot.initrd,
          ...(p.image ? [p.image.name, p.image.disk, p.image.firmware, ...(p.image.url ? [p.image.url] : [])] : []),
        ].map((f) => [f.virtualPath, f]),
      );
      for (const path of paths)
        assert.equal(texts.get(path), renderCompiled(p, all.get(path)!, ctx), `${p.name} ${path}`);
    }
  });

  it(
    'time limit: one filter call that runs for minutes (liquidjs checks its clock only between tags) has its worker killed within the limit + 1 s; the main thread keeps running; a full queue refuses more',
    { timeout: 60_000 },
    async () => {
      // where_exp evaluates its expression per element with no clock check, and `sum` charges no memory:
      // 100 000 × 100 000 additions in one filter call, which liquidjs' renderLimit never interrupts.
      const slow = await profileWith(
        '{% assign a = (1..100000) %}{% assign r = a | where_exp: "x", "a | sum" %}{{ r | size }}',
      );
      const killedBefore = r.stats().killed;
      const first = failing(r, slow);
      const queued = r.render(slow, [preseed(slow)], sampleContext(slow)).catch((e: unknown) => e);
      await assert.rejects(r.render(slow, [preseed(slow)], sampleContext(slow)), (e: unknown) =>
        hasCode(e, 'rate_limited'),
      );
      const { err, ms, ticks } = await first;
      assert.ok(hasCode(err, 'template_error'), String(err));
      assert.equal(err.issues[0].code, 'timeout', err.message);
      assert.match(err.issues[0].path, /^profiles\/p\/templates\/preseed\.cfg:1:1$/);
      assert.match(err.message, /template-timeout-ms/);
      // The worker is killed at the limit plus a fixed grace; this bound is the documented guarantee.
      assert.ok(ms < timeoutMs + KILL_GRACE_MS + 1000, `took ${Math.round(ms)} ms`);
      assert.ok(ticks > 0, 'the main event loop must run while a template renders');
      const second = await queued;
      assert.ok(hasCode(second, 'template_error') && second.issues[0].code === 'timeout', String(second));
      assert.equal(r.stats().killed, killedBefore + 2);
      const ok = await profileWith('fine {{ host.name }}');
      assert.equal((await r.render(ok, [preseed(ok)], sampleContext(ok))).get(preseed(ok)), 'fine rack1-node07');
    },
  );

  it('time limit: an empty-bodied nested loop fails within the limit + 1 s', { timeout: 60_000 }, async () => {
    const p = await profileWith('{% for a in (1..100000) %}{% for b in (1..100000) %}{% endfor %}{% endfor %}');
    const { err, ms, ticks } = await failing(r, p);
    assert.ok(hasCode(err, 'template_error'), String(err));
    assert.ok(['timeout', 'limit_exceeded'].includes(err.issues[0].code), err.issues[0].code);
    assert.ok(ms < timeoutMs + KILL_GRACE_MS + 1000, `took ${Math.round(ms)} ms`);
    assert.ok(ticks > 0);
  });

  for (const [what, template] of [
    ['a loop writing text', '{% for i in (1..100000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}'],
    [
      'a capture doubled in a loop',
      '{% assign s = "xxxxxxxxxxxxxxxx" %}{% for i in (1..22) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}{{ s }}',
    ],
    [
      'append doubling a string',
      '{% assign s = "xxxxxxxxxxxxxxxx" %}{% for i in (1..22) %}{% assign s = s | append: s %}{% endfor %}{{ s }}',
    ],
    ['a join that pads a range', '{{ (1..100000) | join: "yyyyyyyyyyyyyyyyyyyy" }}'],
    ['a padded date', '{{ "2024-01-01" | date: "%9999999d" }}'],
    ['nested loops with short bodies', '{% for a in (1..3000) %}{% for b in (1..3000) %}ab{% endfor %}{% endfor %}'],
  ] as const) {
    it(`output limit: ${what} stops at template-max-output-kib`, { timeout: 60_000 }, async () => {
      const p = await profileWith(template);
      const { err } = await failing(big, p);
      assert.ok(hasCode(err, 'template_error'), String(err));
      assert.equal(err.issues[0].code, 'limit_exceeded', err.message);
      assert.match(err.issues[0].path, /^profiles\/p\/templates\/preseed\.cfg:\d+:\d+$/);
    });
  }

  it('the output limit counts every file of one render together', async () => {
    const p = await profileWith('{% for i in (1..4000) %}0123456789{% endfor %}');
    assert.equal((await r.render(p, [preseed(p)], sampleContext(p))).get(preseed(p))!.length, 40000);
    await assert.rejects(
      r.render(p, [preseed(p), preseed(p)], sampleContext(p)),
      (e: unknown) => hasCode(e, 'template_error') && /template-max-output-kib/.test(e.message),
    );
  });

  it('a missing variable in the worker is a template_error naming file, line and column', async () => {
    const p = await profileWith('a\n{{ host.labels.missing }}\n');
    await assert.rejects(
      r.render(p, [preseed(p)], sampleContext(p)),
      (e: unknown) =>
        hasCode(e, 'template_error') &&
        e.issues[0].path === 'profiles/p/templates/preseed.cfg:2:4' &&
        e.issues[0].code === 'undefined_variable',
    );
  });
});
