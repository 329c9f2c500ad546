// The installed system's first-boot callback (node/firstboot/kiln-firstboot.sh)
// in a root that has neither curl nor wget, as a minimal Debian root built by
// mmdebstrap: the callback goes over bash's /dev/tcp to the fake node API with
// the node credential, marks itself done, and a rejected credential is retried
// then reported, never marked done.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nodeScriptsDir } from './build-discovery-image.js';
import { startFakeNodeApi } from './fake-node-api.js';

const run = promisify(execFile);
const tools = ['sh', 'bash', 'cat', 'mkdir', 'touch', 'sleep', 'timeout'];
const found = tools.map((t) => ['/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p)));
const skip = found.includes(undefined) ? `needs ${tools.join(', ')}` : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-firstboot-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A PATH with the tools a minimal Debian root has, and no curl or wget. */
function minimalPath(): string {
  const bin = join(work, 'bin');
  if (!existsSync(bin)) {
    mkdirSync(bin);
    tools.forEach((t, i) => symlinkSync(found[i]!, join(bin, t)));
  }
  return bin;
}

async function firstboot(
  name: string,
  url: string,
  credential: string,
): Promise<{ code: number; out: string; etc: string; state: string }> {
  const etc = join(work, name, 'etc');
  const state = join(work, name, 'state');
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'url'), `${url}\n`);
  writeFileSync(join(etc, 'credential'), credential);
  try {
    const r = await run(join(minimalPath(), 'sh'), [join(nodeScriptsDir, 'firstboot/kiln-firstboot.sh')], {
      env: { PATH: minimalPath(), KILN_ETC: etc, KILN_STATE: state, KILN_TRIES: '2', KILN_DELAY: '0' },
      timeout: 60_000,
    });
    return { code: 0, out: r.stdout + r.stderr, etc, state };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}`, etc, state };
  }
}

test(
  'first boot without curl or wget: bash /dev/tcp carries the callback with the credential; done once',
  { skip },
  async () => {
    const api = await startFakeNodeApi({ host: '127.0.0.1' });
    try {
      const r = await firstboot('ok', api.url, api.credential);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /kiln-firstboot: reported to http:\/\/127\.0\.0\.1:\d+/);
      const calls = api.calls.filter((c) => c.path === '/api/v1/node/complete');
      assert.equal(calls.length, 1);
      assert.equal(calls[0].authorization, `Bearer ${api.credential}`);
      assert.deepEqual(calls[0].body, { ok: true, stage: 'firstboot' });
      assert.ok(existsSync(join(r.state, 'firstboot-done')));
      // A second boot stays quiet.
      const again = await firstboot('ok', api.url, api.credential);
      assert.equal(again.code, 0);
      assert.equal(api.calls.filter((c) => c.path === '/api/v1/node/complete').length, 1);
    } finally {
      await api.close();
    }
  },
);

test(
  'first boot without curl or wget: a refused credential is retried, reported and not marked done',
  { skip },
  async () => {
    const api = await startFakeNodeApi({ host: '127.0.0.1' });
    try {
      const r = await firstboot('refused', api.url, 'not-the-credential');
      assert.notEqual(r.code, 0);
      assert.match(r.out, /HTTP 401/);
      assert.match(r.out, /could not reach/);
      assert.equal(api.calls.filter((c) => c.path === '/api/v1/node/complete').length, 2);
      assert.equal(existsSync(join(r.state, 'firstboot-done')), false);
    } finally {
      await api.close();
    }
  },
);
