import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProfiles } from './load-profiles.js';
import { summarizeProfile } from './profile-summary.js';
import type { LoadedProfile } from './loaded-profile.js';
import { sampleContext } from './testdata/sample-context.js';
import { renderProfileFile } from './render-profile-file.js';
import { renderBootSpec } from './render-boot-spec.js';
import { overrides, renderAll } from './testdata/render-all.js';

const here = dirname(fileURLToPath(import.meta.url));
const profilesDir = join(here, '../../profiles');
const goldenDir = join(here, 'testdata/golden');
const update = process.env.UPDATE_GOLDEN === '1';
/** Compares `text` with the golden file (or rewrites it under UPDATE_GOLDEN=1). */
async function assertGolden(rel: string, text: string): Promise<void> {
  const path = join(goldenDir, rel);
  if (update) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
    return;
  }
  const want = await readFile(path, 'utf8').catch(() => {
    throw new Error(`missing golden ${rel}; run with UPDATE_GOLDEN=1`);
  });
  assert.equal(text, want, `${rel} differs from its golden file (UPDATE_GOLDEN=1 rewrites)`);
}

const loaded = await loadProfiles(profilesDir);

test('every shipped profile loads without an error', () => {
  assert.deepEqual(
    loaded.errors.map((e) => e.message),
    [],
  );
  assert.deepEqual(
    [...loaded.profiles.keys()],
    ['debian-12', 'kiln-image', 'kiln-image-stateless', 'rocky-9', 'ubuntu-24.04'],
  );
});

test('every template of every shipped profile renders as its golden file', async () => {
  let n = 0;
  for (const p of loaded.profiles.values()) {
    for (const [name, text] of renderAll(p)) {
      await assertGolden(`${p.name}/${name}`, text);
      n++;
    }
  }
  assert.equal(n, 15);
});

test('rendering is pure: the same input gives the same text twice', () => {
  for (const p of loaded.profiles.values()) assert.deepEqual(renderAll(p), renderAll(p));
});

test('no rendered file embeds a password hash or a private key', () => {
  for (const p of loaded.profiles.values()) {
    for (const [name, text] of renderAll(p)) {
      assert.doesNotMatch(text, /\$[0-9a-z]+\$[^\s'"]*\$/, `${p.name}/${name} has a crypt hash`);
      assert.doesNotMatch(text, /PRIVATE KEY/, `${p.name}/${name} has a private key`);
    }
  }
});

test('every install script enrols with the boot MAC and fetches secrets with the credential', () => {
  for (const p of loaded.profiles.values()) {
    // Kiln's image writer runs the late step itself (node/agent/late.sh; src/discovery/late-step.test.ts).
    if (p.spec.install.method === 'kiln-image') continue;
    const files = renderAll(p);
    const late = files.get('ks.cfg') ?? files.get('kiln-late.sh');
    assert.ok(late, `${p.name} has a late script`);
    assert.match(late, /kiln_enrol_url='https:\/\/kiln\.lab\.example\.org:8443\/api\/v1\/node\/enrol'/);
    assert.match(late, /printf '\{"mac":"%s","enrolSecret":"' "\$kiln_boot_mac"/);
    assert.match(
      late,
      /kiln_enrol_body \| kiln_curl -H 'Content-Type: application\/json' --data-binary @- "\$kiln_enrol_url"/,
    );
    // The credential goes to curl in a 0600 header file, never as an argument (node-calls-installer.test.ts).
    assert.match(
      late,
      /printf 'Authorization: Bearer %s\\n' "\$\(cat "\$KILN_DIR\/credential"\)" > "\$KILN_DIR\/auth-header"/,
    );
    assert.match(late, /kiln_curl -H "@\$KILN_DIR\/auth-header"/);
    assert.doesNotMatch(late, /-H "Authorization/);
    assert.match(late, /^kiln_complete install$/m);
    assert.match(late, /chpasswd -e/);
    assert.match(late, /passwd -l root/);
    assert.match(late, /HostCertificate \/etc\/ssh\/ssh_host_\$\{kind\}_key-cert\.pub/);
    assert.match(late, /PasswordAuthentication no/);
  }
});

test('kickstart: required commands present, every section closed with %end', () => {
  const ks = renderProfileFile(
    loaded.profiles.get('rocky-9')!,
    'ks.cfg',
    sampleContext(loaded.profiles.get('rocky-9')!),
  );
  const lines = ks.split('\n');
  for (const cmd of [
    'text',
    'reboot',
    'url',
    'lang',
    'keyboard',
    'timezone',
    'network',
    'rootpw',
    'bootloader',
    'zerombr',
    'clearpart',
    'autopart',
  ]) {
    assert.ok(
      lines.some((l) => l === cmd || l.startsWith(`${cmd} `)),
      `missing kickstart command ${cmd}`,
    );
  }
  assert.ok(lines.includes('rootpw --lock'), 'root password locked in the file; the hash comes from Kiln');
  const sections: string[] = [];
  let open: string | null = null;
  for (const [i, l] of lines.entries()) {
    if (/^%(packages|pre|post|onerror)\b/.test(l)) {
      assert.equal(open, null, `line ${i + 1}: ${l} opens inside ${open}`);
      open = l.split(' ')[0]!;
      sections.push(l.split(' ')[0]);
    } else if (l === '%end') {
      assert.notEqual(open, null, `line ${i + 1}: %end without a section`);
      open = null;
    } else if (l.startsWith('%')) {
      assert.fail(`line ${i + 1}: unknown section ${l}`);
    }
  }
  assert.equal(open, null, 'last section not closed');
  assert.deepEqual(sections, ['%packages', '%pre', '%post', '%post']);
});

test("boot specs: one-line command lines pointing at this host's files (or, for the image writer, at Kiln)", () => {
  for (const p of loaded.profiles.values()) {
    const boot = renderBootSpec(p, sampleContext(p, overrides[p.name]));
    assert.doesNotMatch(boot.cmdline, /[\n\r]/);
    assert.match(boot.kernel, /^https?:\/\//);
    assert.equal(boot.initrd.length, 1);
    // The image writer asks the node API for its plan; installers fetch their files by URL.
    assert.match(
      boot.cmdline,
      p.spec.install.method === 'kiln-image'
        ? /kiln\.url=http:\/\/192\.0\.2\.1:8080 .*kiln\.mode=(install|stateless)/
        : /http:\/\/192\.0\.2\.1:8080\/api\/v1\/node\/install\/kit_INSTALLTOKEN\//,
    );
  }
});

test('summaries list files and variables for kiln profile show', () => {
  const s = summarizeProfile(loaded.profiles.get('kiln-image')!);
  assert.deepEqual(s.files, [], 'the writer fetches secrets and its host certificate itself; no install file');
  assert.deepEqual(s.variables[0], {
    name: 'imageName',
    description: 'Name of the Kiln image to write (kiln image list); set per group or host',
  });
  assert.deepEqual(s.image, {
    name: '{{ profile.imageName }}',
    disk: '{{ profile.disk }}',
    firmware: '{{ profile.firmware }}',
    layout: 'single',
  });
  // Nothing the shipped profile does not do is claimed (it writes layout single, not A/B roots; images are stored by name).
  assert.doesNotMatch(s.description, /A\/B|rollback|content-addressed/i);
  assert.equal(s.installMethod, 'kiln-image');
});

test("with syslog off, debian-12 and rocky-9 name no log server; on, they name Kiln's (log_host, logging --host)", () => {
  const debian = loaded.profiles.get('debian-12')!;
  const rocky = loaded.profiles.get('rocky-9')!;
  const off = (p: LoadedProfile) => {
    const ctx = sampleContext(p);
    return { ...ctx, kiln: { ...ctx.kiln, syslog: { host: '', port: 514 } } };
  };
  assert.doesNotMatch(renderBootSpec(debian, off(debian)).cmdline, /log_host|log_port/);
  assert.doesNotMatch(renderProfileFile(rocky, 'ks.cfg', off(rocky)), /^logging /m);
  assert.match(renderBootSpec(debian, sampleContext(debian)).cmdline, / log_host=192\.0\.2\.1 log_port=514 ---$/);
  assert.match(renderProfileFile(rocky, 'ks.cfg', sampleContext(rocky)), /^logging --host=192\.0\.2\.1 --port=514 /m);
});

/** The forwarding rule every shipped profile's late step writes for the sample host (Kiln at 192.0.2.1:514). */
const sampleRsyslogRule = `# Written by Kiln at install: every line also goes to Kiln's syslog receiver
# (TCP, RFC 5424, octet-counted framing per RFC 6587), attributed to this host.
# RSYSLOG_SyslogProtocol23Format, less the space an RFC 3164 origin leaves
# before the message text ("tag: text").
template(name="KilnForward" type="string"
         string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg:R,ERE,1,FIELD:^ ?(.*)$--end%")
*.* action(type="omfwd" target="192.0.2.1" port="514" protocol="tcp"
           TCP_Framing="octet-counted" template="KilnForward"
           queue.type="LinkedList" queue.size="10000" action.resumeRetryCount="-1")
`;

test('with syslog on, every late step writes the rsyslog forwarding rule and installs rsyslog, ubuntu-24.04 forwards its installer journal with the session; off, none of it', () => {
  const off = (p: LoadedProfile) => {
    const ctx = sampleContext(p);
    return { ...ctx, kiln: { ...ctx.kiln, syslog: { host: '', port: 514 } } };
  };
  const rule = /<<'KILN_RSYSLOG'\n([\s\S]*?)^KILN_RSYSLOG$/m;
  const late: Array<[string, string]> = [
    ['debian-12', 'kiln-late.sh'],
    ['ubuntu-24.04', 'kiln-late.sh'],
    ['rocky-9', 'ks.cfg'],
  ];
  for (const [name, file] of late) {
    const p = loaded.profiles.get(name)!;
    const on = renderProfileFile(p, file, sampleContext(p));
    assert.equal(rule.exec(on)?.[1], sampleRsyslogRule, `${name} ${file}`);
    assert.match(on, /^kiln_syslog_rsyslog \|\| /m, `${name}: the late step calls it`);
    const quiet = renderProfileFile(p, file, off(p));
    assert.doesNotMatch(quiet, /KILN_RSYSLOG|rsyslog\.d/, `${name}: no rule with syslog off`);
    assert.match(quiet, /^kiln_syslog_rsyslog\(\) \{ :; \}$/m);
  }
  // rsyslog is in each package list only when syslog is on.
  const pkgs = {
    'debian-12': ['preseed.cfg', /^d-i pkgsel\/include string .*\brsyslog\b/m],
    'ubuntu-24.04': ['user-data', /^ {4}- rsyslog$/m],
    'rocky-9': ['ks.cfg', /^rsyslog$/m],
  } as const;
  for (const [name, [file, re]] of Object.entries(pkgs)) {
    const p = loaded.profiles.get(name)!;
    assert.match(renderProfileFile(p, file, sampleContext(p)), re, name);
    assert.doesNotMatch(renderProfileFile(p, file, off(p)), re, name);
  }
  const ubuntu = loaded.profiles.get('ubuntu-24.04')!;
  const early = renderProfileFile(ubuntu, 'kiln-early.sh', sampleContext(ubuntu));
  assert.ok(
    early.includes(`  setsid sh -c 'journalctl -b -f -n all -o short-iso 2>/dev/null |
    logger --udp --server 192.0.2.1 --port 514 --rfc5424 --size 4096 \\
      --sd-id kiln@32473 --sd-param "session=\\"kbs_BOOTSESSION\\"" -t installer -p user.notice' \\
    </dev/null >/dev/null 2>&1 &
`),
    early,
  );
  assert.match(early, /\nkiln_syslog_journal\n$/);
  assert.match(renderProfileFile(ubuntu, 'kiln-early.sh', off(ubuntu)), /^kiln_syslog_journal\(\) \{ :; \}$/m);
});
