import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hasCode, type KilnError } from '../error/kiln-error.js';
import { loadProfiles, validateProfile } from './load-profiles.js';
import { profileContext } from './profile-context.js';
import { sampleContext } from './testdata/sample-context.js';
import { renderProfileFile } from './render-profile-file.js';
import { renderBootSpec } from './render-boot-spec.js';
import { formatValidation } from './profile-summary.js';

// Each case writes a small profile tree into a temp `profiles/` directory and
// checks the exact issue (code and file:line:col) that loading reports.

const goodYaml = `name: p
description: test profile
os: { family: debian, version: "12" }
arch: x86_64
install:
  method: preseed
boot:
  kernel: "{{ profile.mirror }}/linux"
  initrd: ["{{ profile.mirror }}/initrd.gz"]
  cmdline: "auto=true url={{ kiln.filesUrl }}/preseed.cfg"
files:
  - name: preseed.cfg
    template: templates/preseed.cfg
variables:
  mirror:
    description: mirror
    default: http://deb.example.org
`;

/** Creates `profiles/` with the given files (path → text) and returns its path. */
async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'profile-load-'));
  const dir = join(root, 'profiles');
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), text);
  }
  return dir;
}

/** Loads the tree; returns the single error's issues (asserting the profile was not loaded). */
async function issuesOf(files: Record<string, string>): Promise<KilnError['issues']> {
  const dir = await tree(files);
  try {
    const { profiles, errors } = await loadProfiles(dir);
    assert.equal(profiles.size, 0, 'an invalid profile must not load');
    assert.equal(errors.length, 1);
    assert.ok(hasCode(errors[0], 'profile_invalid'));
    return errors[0].issues;
  } finally {
    await rm(dirname(dir), { recursive: true, force: true });
  }
}

const base = {
  'p/profile.yaml': goodYaml,
  'p/templates/preseed.cfg': 'd-i netcfg/get_hostname string {{ host.hostname }}\n',
};

const cases: Array<{ name: string; files: Record<string, string>; want: Array<{ path: string; code: string }> }> = [
  {
    name: 'bad YAML',
    files: { ...base, 'p/profile.yaml': goodYaml.replace('arch: x86_64', 'arch: [x86_64') },
    want: [{ path: 'profiles/p/profile.yaml:5:1', code: 'yaml_syntax' }],
  },
  {
    name: 'unknown top-level key',
    files: { ...base, 'p/profile.yaml': `${goodYaml}colour: blue\n` },
    want: [{ path: 'profiles/p/profile.yaml:18:1', code: 'unknown_key' }],
  },
  {
    name: 'unknown nested key',
    files: { ...base, 'p/profile.yaml': goodYaml.replace('  method: preseed', '  method: preseed\n  mehtod: x') },
    want: [{ path: 'profiles/p/profile.yaml:7:3', code: 'unknown_key' }],
  },
  {
    name: 'wrong type',
    files: { ...base, 'p/profile.yaml': goodYaml.replace('arch: x86_64', 'arch: sparc') },
    want: [{ path: 'profiles/p/profile.yaml:4:7', code: 'wrong_type' }],
  },
  {
    name: 'missing key',
    files: { ...base, 'p/profile.yaml': goodYaml.replace('description: test profile\n', '') },
    want: [{ path: 'profiles/p/profile.yaml:1:1', code: 'missing_key' }],
  },
  {
    name: 'missing template file',
    files: { 'p/profile.yaml': goodYaml },
    want: [{ path: 'profiles/p/profile.yaml:13:15', code: 'template_not_found' }],
  },
  {
    name: 'template syntax error',
    files: { ...base, 'p/templates/preseed.cfg': 'ok\n{% if host.name %}\nno endif\n' },
    want: [{ path: 'profiles/p/templates/preseed.cfg:2:1', code: 'syntax' }],
  },
  {
    name: 'unknown filter',
    files: { ...base, 'p/templates/preseed.cfg': 'a\nb {{ host.name | shout }}\n' },
    want: [{ path: 'profiles/p/templates/preseed.cfg:2:3', code: 'unknown_filter' }],
  },
  {
    name: 'undeclared profile variable',
    files: { ...base, 'p/templates/preseed.cfg': 'a\n  {{ profile.mirorr }}\n' },
    want: [{ path: 'profiles/p/templates/preseed.cfg:2:6', code: 'unknown_variable' }],
  },
  {
    name: 'unknown context root',
    files: { ...base, 'p/templates/preseed.cfg': '{{ secrets.root }}\n' },
    want: [{ path: 'profiles/p/templates/preseed.cfg:1:4', code: 'unknown_variable' }],
  },
  {
    name: 'unknown host field',
    files: { ...base, 'p/templates/preseed.cfg': '{{ host.password }}\n' },
    want: [{ path: 'profiles/p/templates/preseed.cfg:1:4', code: 'unknown_variable' }],
  },
  {
    name: 'unknown variable in the inline cmdline',
    files: { ...base, 'p/profile.yaml': goodYaml.replace('preseed.cfg"', 'preseed.cfg {{ profile.console }}"') },
    want: [{ path: 'profiles/p/profile.yaml:10:62', code: 'unknown_variable' }],
  },
  {
    name: 'unknown variable inside a snippet',
    files: {
      ...base,
      'p/templates/preseed.cfg': "x\n{% render 's.sh' %}\n",
      'p/snippets/s.sh': 'line1\n{{ kiln.token }}\n',
    },
    want: [{ path: 'profiles/p/snippets/s.sh:2:4', code: 'unknown_variable' }],
  },
  {
    name: 'include of an absolute path',
    files: { ...base, 'p/templates/preseed.cfg': "a\n{% include '/etc/passwd' %}\n" },
    want: [{ path: 'profiles/p/templates/preseed.cfg:2:1', code: 'forbidden_path' }],
  },
  {
    name: 'render climbing out with ..',
    files: { ...base, 'p/templates/preseed.cfg': "{% render '../../x' %}\n" },
    want: [{ path: 'profiles/p/templates/preseed.cfg:1:1', code: 'forbidden_path' }],
  },
  {
    name: 'snippet that does not exist',
    files: { ...base, 'p/templates/preseed.cfg': "a\nb\n  {% render 'nope.sh' %}\n" },
    want: [{ path: 'profiles/p/templates/preseed.cfg:3:3', code: 'snippet_not_found' }],
  },
  {
    name: 'snippet named by a variable',
    files: { ...base, 'p/templates/preseed.cfg': '{% include host.name %}\n' },
    want: [{ path: 'profiles/p/templates/preseed.cfg:1:1', code: 'dynamic_snippet' }],
  },
  {
    name: 'image.url, which nothing reads',
    files: {
      ...base,
      'p/profile.yaml': goodYaml
        .replace('method: preseed', 'method: kiln-image')
        .replace(
          'files:',
          'image:\n  name: img\n  url: http://x/img.raw\n  disk: auto\n  firmware: auto\n  layout: single\nfiles:',
        ),
    },
    want: [{ path: 'profiles/p/profile.yaml:13:8', code: 'not_implemented' }],
  },
  {
    name: 'a variable name that fails the pattern (with a nested value)',
    files: { ...base, 'p/profile.yaml': `${goodYaml}  "bad name":\n    nested: { deep: 1 }\n` },
    want: [{ path: 'profiles/p/profile.yaml:18:3', code: 'unknown_key' }],
  },
  {
    name: 'name differs from directory',
    files: { ...base, 'p/profile.yaml': goodYaml.replace('name: p', 'name: q') },
    want: [{ path: 'profiles/p/profile.yaml:1:7', code: 'name_mismatch' }],
  },
];

for (const c of cases) {
  test(`load rejects: ${c.name}`, async () => {
    const issues = await issuesOf(c.files);
    assert.deepEqual(
      issues.map((i) => ({ path: i.path, code: i.code })),
      c.want,
      JSON.stringify(issues),
    );
    for (const i of issues) assert.ok(i.message.length > 0);
  });
}

test('a broken shared snippet is reported at its own file and line', async () => {
  const dir = await tree({ ...base, '_snippets/x.sh': 'ok\n{% for %}\n' });
  try {
    const { profiles, errors } = await loadProfiles(dir);
    assert.equal(profiles.size, 0);
    assert.deepEqual(
      errors[0].issues.map((i) => i.path),
      ['profiles/_snippets/x.sh:2:1'],
    );
  } finally {
    await rm(dirname(dir), { recursive: true, force: true });
  }
});

test('a symlinked snippet is refused (no reading outside the profile)', async () => {
  const dir = await tree(base);
  try {
    await mkdir(join(dir, 'p/snippets'));
    await symlink('/etc/passwd', join(dir, 'p/snippets/passwd'));
    const v = await validateProfile(join(dir, 'p'));
    assert.equal(v.ok, false);
    assert.deepEqual(
      v.issues.map((i) => [i.path, i.code]),
      [['profiles/p/snippets/passwd:1:1', 'symlink']],
    );
  } finally {
    await rm(dirname(dir), { recursive: true, force: true });
  }
});

test('validateProfile returns issues as data and formats them one per line', async () => {
  const dir = await tree({ ...base, 'p/profile.yaml': `${goodYaml}colour: blue\n` });
  try {
    const v = await validateProfile(join(dir, 'p'));
    assert.equal(formatValidation(v), 'profiles/p/profile.yaml:18:1: unknown key "colour" (unknown_key)');
    const good = await validateProfile(join(await tree(base), 'p'));
    assert.deepEqual(good, { name: 'p', ok: true, issues: [] });
    assert.equal(formatValidation(good), 'p: ok');
  } finally {
    await rm(dirname(dir), { recursive: true, force: true });
  }
});

/** Loads one valid profile from `files` for render tests. */
async function loadOne(files: Record<string, string>) {
  const dir = await tree(files);
  const { profiles, errors } = await loadProfiles(dir);
  await rm(dirname(dir), { recursive: true, force: true });
  assert.deepEqual(
    errors.map((e) => e.message),
    [],
  );
  return profiles.get('p')!;
}

test(
  'a template that loops forever is stopped with template_error naming file and line',
  { timeout: 120_000 },
  async () => {
    const p = await loadOne({
      ...base,
      'p/templates/preseed.cfg':
        'start\n{% for a in (1..100000) %}{% for b in (1..100000) %}{{ b }}{% endfor %}{% endfor %}\n',
    });
    // No wall-clock assertion (tests never fail on timing): the render returning
    // at all, with limit_exceeded, is the proof that the limit stopped it.
    assert.throws(
      () => renderProfileFile(p, 'preseed.cfg', sampleContext(p)),
      (err: unknown) => {
        assert.ok(hasCode(err, 'template_error'));
        assert.match(err.issues[0].path, /^profiles\/p\/templates\/preseed\.cfg:2:\d+$/);
        assert.equal(err.issues[0].code, 'limit_exceeded');
        return true;
      },
    );
  },
);

test('a huge range is stopped by the memory limit', async () => {
  const p = await loadOne({ ...base, 'p/templates/preseed.cfg': '{% for i in (1..10000000000) %}x{% endfor %}' });
  assert.throws(
    () => renderProfileFile(p, 'preseed.cfg', sampleContext(p)),
    (err: unknown) =>
      hasCode(err, 'template_error') &&
      err.issues[0].code === 'limit_exceeded' &&
      err.issues[0].path === 'profiles/p/templates/preseed.cfg:1:1',
  );
});

test('a missing value at render time is a template_error, never an empty string', async () => {
  const p = await loadOne({ ...base, 'p/templates/preseed.cfg': 'a\n{{ host.labels.missing }}\n' });
  assert.throws(
    () => renderProfileFile(p, 'preseed.cfg', sampleContext(p)),
    (err: unknown) =>
      hasCode(err, 'template_error') &&
      err.issues[0].path === 'profiles/p/templates/preseed.cfg:2:4' &&
      err.issues[0].code === 'undefined_variable',
  );
});

test('prototype properties are not readable', async () => {
  const p = await loadOne({ ...base, 'p/templates/preseed.cfg': '{{ host.macs.constructor }}' });
  assert.throws(
    () => renderProfileFile(p, 'preseed.cfg', sampleContext(p)),
    (err: unknown) => hasCode(err, 'template_error'),
  );
});

test('a kernel command line with a newline is rejected', async () => {
  const p = await loadOne({
    ...base,
    'p/profile.yaml': goodYaml
      .replace('preseed.cfg"', 'preseed.cfg {{ profile.extra }}"')
      .replace('variables:\n', 'variables:\n  extra:\n    description: x\n    default: ""\n'),
  });
  assert.equal(
    renderBootSpec(p, sampleContext(p)).cmdline,
    'auto=true url=http://192.0.2.1:8080/boot/hosts/h-0001/files/preseed.cfg',
  );
  assert.throws(
    () => renderBootSpec(p, sampleContext(p, { extra: 'a\ninit=/bin/sh' })),
    (err: unknown) =>
      hasCode(err, 'template_error') &&
      err.issues[0].code === 'cmdline_newline' &&
      err.issues[0].path === 'profiles/p/profile.yaml:10:13',
  );
});

test('a kernel command line or boot URL that iPXE would not pass literally is refused at deploy time (ipxe_unsafe)', async () => {
  const p = await loadOne({
    ...base,
    'p/profile.yaml': goodYaml
      .replace('preseed.cfg"', 'preseed.cfg {{ profile.extra }}"')
      .replace('variables:\n', 'variables:\n  extra:\n    description: x\n    default: ""\n'),
  });
  for (const extra of [
    '&& chain http://evil.test/x',
    'a || shell',
    'x ; shell',
    '#comment',
    'root=${evil}',
    'trailing\\',
  ]) {
    assert.throws(
      () => renderBootSpec(p, sampleContext(p, { extra })),
      (err: unknown) =>
        hasCode(err, 'template_error') &&
        err.issues[0].code === 'ipxe_unsafe' &&
        err.issues[0].path === 'profiles/p/profile.yaml:10:13',
      extra,
    );
  }
  assert.throws(
    () => renderBootSpec(p, sampleContext(p, { mirror: 'http://m/${x}' })),
    (err: unknown) => hasCode(err, 'template_error') && err.issues[0].code === 'ipxe_unsafe',
  );
});

test('a profile-local boot file becomes a controller URL; a missing one is an error', async () => {
  const yaml = goodYaml.replace('"{{ profile.mirror }}/linux"', 'boot/linux');
  const p = await loadOne({ ...base, 'p/profile.yaml': yaml, 'p/boot/linux': 'kernel' });
  assert.equal(renderBootSpec(p, sampleContext(p)).kernel, 'http://192.0.2.1:8080/boot/profiles/p/boot/linux');
  const q = await loadOne({ ...base, 'p/profile.yaml': yaml });
  assert.throws(
    () => renderBootSpec(q, sampleContext(q)),
    (err: unknown) => hasCode(err, 'template_error') && err.issues[0].code === 'boot_file_not_found',
  );
});

test('a profile snippet overrides the shared snippet of the same name', async () => {
  const files = {
    ...base,
    'p/templates/preseed.cfg': "{% render 's.sh' %}",
    '_snippets/s.sh': 'shared {{ host.hostname }}',
    '_snippets/t.sh': 'unused',
  };
  const shared = await loadOne(files);
  assert.equal(renderProfileFile(shared, 'preseed.cfg', sampleContext(shared)), 'shared node07');
  const own = await loadOne({ ...files, 'p/snippets/s.sh': 'own {{ host.fqdn }}' });
  assert.equal(renderProfileFile(own, 'preseed.cfg', sampleContext(own)), 'own node07.lab.example.org');
  assert.deepEqual(own.overriddenSnippets, ['s.sh']);
});

test('the sh filter quotes host data as one shell word', async () => {
  const p = await loadOne({ ...base, 'p/templates/preseed.cfg': 'echo {{ host.labels.rack | sh }}' });
  const ctx = sampleContext(p);
  ctx.host.labels.rack = "r1'; rm -rf / #";
  assert.equal(renderProfileFile(p, 'preseed.cfg', ctx), "echo 'r1'\\''; rm -rf / #'");
});

test('profileContext: overrides, unknown and wrongly typed values, required variables', async () => {
  const p = await loadOne(base);
  assert.deepEqual(profileContext(p), {
    mirror: 'http://deb.example.org',
    name: 'p',
    os: { family: 'debian', version: '12' },
    arch: 'x86_64',
    installMethod: 'preseed',
  });
  assert.equal(profileContext(p, { mirror: 'http://local' }).mirror, 'http://local');
  assert.throws(
    () => profileContext(p, { mirorr: 'x' }),
    (e: unknown) => hasCode(e, 'validation_failed') && e.issues[0].code === 'unknown_variable',
  );
  assert.throws(
    () => profileContext(p, { mirror: 3 }),
    (e: unknown) => hasCode(e, 'validation_failed') && e.issues[0].code === 'wrong_type',
  );
  const r = await loadOne({ ...base, 'p/profile.yaml': goodYaml.replace('    default: http://deb.example.org\n', '') });
  assert.throws(
    () => profileContext(r),
    (e: unknown) => hasCode(e, 'validation_failed') && e.issues[0].code === 'missing_variable',
  );
});

test('an unlisted install file name is not_found', async () => {
  const p = await loadOne(base);
  assert.throws(
    () => renderProfileFile(p, 'ks.cfg', sampleContext(p)),
    (e: unknown) => hasCode(e, 'not_found'),
  );
});
