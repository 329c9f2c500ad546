// The image writer's "syslog" late stage (node/agent/late.sh late_syslog)
// under the busybox the image ships, against fake target roots: with Kiln's
// receiver in the plan and rsyslog in the image it writes the very rule the
// other profiles' late steps write (rendered from the shared snippet, run for
// real in src/syslog/syslog-profiles.int.test.ts); without either it leaves
// the target alone and does not fail.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfiles } from '../profile/load-profiles.js';
import { renderProfileFile } from '../profile/render-profile-file.js';
import { sampleContext } from '../profile/testdata/sample-context.js';
import { nodeScriptsDir } from './build-discovery-image.js';

const busybox = '/bin/busybox';
const agent = join(nodeScriptsDir, 'agent');
const skip = !existsSync(busybox) ? 'needs busybox' : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-late-syslog-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Runs late_syslog as install.sh does, with `plan` as the install plan; returns its output. */
function lateSyslog(name: string, plan: Record<string, unknown>, rsyslog: boolean): { target: string; out: string } {
  const target = join(work, name);
  mkdirSync(join(target, 'usr/sbin'), { recursive: true });
  if (rsyslog) writeFileSync(join(target, 'usr/sbin/rsyslogd'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(work, `${name}.json`), JSON.stringify(plan));
  const out = execFileSync(
    busybox,
    [
      'sh',
      '-c',
      `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/late.sh"
plan_get() { printf '%s\\n' "$PLAN" | json_get "$1"; }
PLAN=$(json_flatten < "$KILN_PLAN")
late_syslog`,
    ],
    {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', KILN_LIB: agent, KILN_TARGET: target, KILN_PLAN: join(work, `${name}.json`) },
    },
  );
  return { target, out };
}

test(
  "late_syslog writes the profiles' rsyslog forwarding rule into an image with rsyslog when the plan names Kiln's receiver; otherwise nothing",
  { skip },
  async () => {
    const { profiles } = await loadProfiles(join(nodeScriptsDir, '../profiles'));
    const debian = profiles.get('debian-12')!;
    const ctx = sampleContext(debian);
    const rendered = renderProfileFile(debian, 'kiln-late.sh', {
      ...ctx,
      kiln: { ...ctx.kiln, syslog: { host: '10.0.0.1', port: 1514 } },
    });
    const want = /<<'KILN_RSYSLOG'\n([\s\S]*?)^KILN_RSYSLOG$/m.exec(rendered)![1];
    const rule = 'etc/rsyslog.d/60-kiln-forward.conf';

    const on = lateSyslog('on', { syslog: { host: '10.0.0.1', port: 1514 } }, true);
    assert.equal(readFileSync(join(on.target, rule), 'utf8'), want);
    assert.equal(on.out, 'the installed system forwards its syslog to 10.0.0.1:1514 (rsyslog)\n');

    const off = lateSyslog('off', {}, true);
    assert.equal(existsSync(join(off.target, rule)), false);
    assert.match(off.out, /receiver is off/);
    const bare = lateSyslog('bare', { syslog: { host: '10.0.0.1', port: 1514 } }, false);
    assert.equal(existsSync(join(bare.target, rule)), false);
    assert.match(bare.out, /the image has no rsyslog/);
  },
);
