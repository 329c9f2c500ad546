// `boot.session` in templates: rendered once per deploy as a placeholder, put
// in when the boot script and the install files are served (docs/profiles.md).
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createTestController, repoProfilesDir } from '../../test/support/controller.js';
import { BOOT_SESSION_PLACEHOLDER } from '../boot/boot-session.js';

const mac = '52:54:00:5e:00:01';

test('boot.session is the boot that fetches: the boot script and install files carry its id, the stored deployment the placeholder', async () => {
  // The shipped profiles, with the ubuntu-24.04 kernel line also naming the session.
  const dir = mkdtempSync(join(tmpdir(), 'kiln-boot-session-'));
  cpSync(repoProfilesDir, dir, { recursive: true });
  const yaml = join(dir, 'ubuntu-24.04/profile.yaml');
  writeFileSync(
    yaml,
    readFileSync(yaml, 'utf8').replace(
      '/dev/null autoinstall\n',
      '/dev/null autoinstall kiln.test={{ boot.session }}\n',
    ),
  );
  const c = await createTestController({
    profilesDir: dir,
    urls: () => ({
      baseUrl: 'http://192.0.2.1:8080',
      apiUrl: 'http://192.0.2.1:8080',
      caPem: '',
      syslog: { host: '192.0.2.1', port: 514 },
    }),
  });
  try {
    const op = { authorization: c.bearer.operator };
    const made = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: op,
      payload: { name: 'bs-1', state: 'ready', nics: [{ mac }] },
    });
    assert.equal(made.statusCode, 201, made.body);
    const deployed = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts/bs-1/deploy',
      headers: op,
      payload: { profile: 'ubuntu-24.04' },
    });
    assert.equal(deployed.statusCode, 200, deployed.body);

    const script = (await c.app.inject({ url: `/boot/host.ipxe?mac=${mac}&platform=efi&arch=x86_64` })).body;
    const session = /kiln\.session=([0-9a-f]{12})/.exec(script)?.[1];
    assert.ok(session, `the install boot has a session:\n${script}`);
    assert.ok(script.includes(` kiln.test=${session} `), 'the boot spec got the same session');
    assert.ok(!script.includes(BOOT_SESSION_PLACEHOLDER));
    const token = /\/api\/v1\/node\/install\/([^/\s]+)\//.exec(script)![1];

    // The installer fetches by URL token without a session header: the host's current session.
    const early = await c.app.inject({ url: `/api/v1/node/install/${token}/kiln-early.sh` });
    assert.equal(early.statusCode, 200, early.body);
    assert.ok(early.body.includes(`--sd-param "session=\\"${session}\\""`), early.body);
    assert.ok(!early.body.includes(BOOT_SESSION_PLACEHOLDER));
    // A node cannot choose its session: a header naming another id, or a malformed one, changes nothing.
    for (const claimed of ['0123456789ab', 'zz"; reboot']) {
      const res = await c.app.inject({
        url: `/api/v1/node/install/${token}/kiln-early.sh`,
        headers: { 'x-kiln-session': claimed },
      });
      assert.ok(res.body.includes(`session=\\"${session}\\"`), claimed);
    }

    // Stored deployment and the viewer's file view keep the placeholder.
    const stored = await c.db.selectFrom('deployments').select(['files', 'boot_spec']).executeTakeFirstOrThrow();
    assert.ok(JSON.stringify(stored).includes(BOOT_SESSION_PLACEHOLDER));
    assert.ok(!JSON.stringify(stored).includes(session));
    const view = await c.app.inject({
      url: '/api/v1/hosts/bs-1/deployments/current/files/kiln-early.sh',
      headers: { authorization: c.bearer.viewer },
    });
    assert.equal(view.statusCode, 200);
    assert.ok(view.body.includes(BOOT_SESSION_PLACEHOLDER));
  } finally {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
