import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { createTestController, type TestController } from '../../../test/support/controller.js';
import { runCli } from '../main.js';

// The CLI in process against a controller listening on loopback.
describe('kiln user and kiln login', () => {
  let c: TestController;
  let server: string;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-user-cli-'));
  const xdg = join(dir, 'xdg');
  const printed: string[] = [];
  const passwords = ['alice-cli-password-1', 'bob-file-password-22'];

  async function kiln(argv: string[], env: Record<string, string | undefined> = {}) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(
      argv,
      { KILN_SERVER: server, KILN_DATA_DIR: join(dir, 'no-data'), XDG_CONFIG_HOME: xdg, ...env },
      { out: (s) => out.push(s), err: (s) => err.push(s) },
    );
    printed.push(...out, ...err);
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  }
  let admin: Record<string, string>;

  before(async () => {
    c = await createTestController();
    server = await c.app.listen({ host: '127.0.0.1', port: 0 });
    admin = { KILN_TOKEN: c.bearer.admin.slice('Bearer '.length) };
  });
  after(async () => c.close());

  it('adds users with the password from KILN_USER_PASSWORD or a file, never a flag', async () => {
    const add = await kiln(['user', 'add', 'alice', '--role', 'operator'], {
      ...admin,
      KILN_USER_PASSWORD: passwords[0],
    });
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, 'created user alice (operator)');
    const file = join(dir, 'bob-password');
    writeFileSync(file, `${passwords[1]}\n`, { mode: 0o600 });
    const bob = await kiln(['user', 'add', 'bob', '--role', 'viewer', '--password-file', file, '--json'], admin);
    assert.equal(bob.code, 0, bob.stderr);
    assert.equal(JSON.parse(bob.stdout).role, 'viewer');
    const flag = await kiln(['user', 'add', 'carol', '--role', 'viewer', '--password', 'carol-password-333'], admin);
    assert.equal(flag.code, 2, 'no --password flag exists');
    // No env, no file, and stdin is not a terminal under the test runner.
    const none = await kiln(['user', 'add', 'carol', '--role', 'viewer'], admin);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no password given: set KILN_USER_PASSWORD, pass --password-file, or run on a terminal/);
    const list = await kiln(['user', 'list'], admin);
    assert.match(
      list.stdout,
      /^NAME\s+ROLE\s+CREATED\s+CREATED BY\s+DISABLED\nalice\s+operator\s+\S+\s+token:t-admin\s+-\nbob\s+viewer\s+\S+\s+token:t-admin\s+-$/,
    );
  });

  it('logs in and writes server and token to $XDG_CONFIG_HOME/kiln/config.yaml (0600), keeping other keys', async () => {
    const cfgFile = join(xdg, 'kiln', 'config.yaml');
    mkdirSync(join(xdg, 'kiln'), { recursive: true });
    writeFileSync(cfgFile, '# my settings\nfavourite: kept\ntoken: kt_stale\n', { mode: 0o644 });
    const res = await kiln(['login', 'alice', '--expires-in-hours', '2'], { KILN_USER_PASSWORD: passwords[0] });
    assert.equal(res.code, 0, res.stderr);
    assert.match(
      res.stdout,
      new RegExp(
        `^logged in to ${server.replace(/\./g, '\\.')} as alice \\(operator\\); the session expires at \\S+; saved in ${cfgFile}$`,
      ),
    );
    assert.equal(statSync(cfgFile).mode & 0o777, 0o600);
    const text = readFileSync(cfgFile, 'utf8');
    assert.match(text, /^# my settings\n/);
    const cfg = parseYaml(text) as Record<string, string>;
    assert.equal(cfg['favourite'], 'kept');
    assert.equal(cfg['server'], server);
    assert.match(cfg['token'], /^kt_/);
    assert.ok(!res.stdout.includes(cfg['token']), 'the token is not printed');
    // With no KILN_TOKEN the CLI now acts as alice.
    const host = await kiln(['host', 'add', 'from-login']);
    assert.equal(host.code, 0, host.stderr);
    const ev = (await c.inventory.listEvents({ kind: 'host.created' })).at(-1);
    assert.equal(ev?.actor, 'user:alice');
  });

  it('refuses a wrong password with the auth exit code', async () => {
    const res = await kiln(['login', 'alice'], { KILN_USER_PASSWORD: 'not-alices-password' });
    assert.equal(res.code, 5);
    assert.match(res.stderr, /wrong user name or password \[unauthenticated\]/);
  });

  it('set-role, disable, enable and delete', async () => {
    const role = await kiln(['user', 'set-role', 'alice', 'viewer'], admin);
    assert.equal(role.code, 0, role.stderr);
    assert.equal(role.stdout, 'user alice now has role viewer');
    assert.equal((await kiln(['host', 'add', 'refused'])).code, 5, 'the logged-in session is a viewer now');
    assert.equal((await kiln(['user', 'set-role', 'alice', 'root'], admin)).code, 2);
    const dis = await kiln(['user', 'disable', 'bob'], admin);
    assert.equal(dis.code, 0, dis.stderr);
    assert.match(dis.stdout, /^user bob disabled at /);
    assert.equal((await kiln(['login', 'bob', '--password-file', join(dir, 'bob-password')])).code, 5);
    assert.equal((await kiln(['user', 'enable', 'bob'], admin)).stdout, 'user bob enabled');
    assert.equal((await kiln(['login', 'bob', '--password-file', join(dir, 'bob-password')])).code, 0);
    assert.equal((await kiln(['user', 'delete', 'bob'], admin)).stdout, 'deleted user bob');
    assert.equal((await kiln(['host', 'list'])).code, 5, "bob's saved session was revoked");
    assert.equal((await kiln(['user', 'delete', 'bob'], admin)).code, 3);
  });

  it('never printed a password', () => {
    const all = printed.join('\n');
    for (const p of passwords) assert.ok(!all.includes(p), `printed ${p}`);
  });
});
