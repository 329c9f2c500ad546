// The heartbeat agent's KRL installation (node/heartbeat/kiln-heartbeat.sh
// hb_install_krl) under busybox sh, in a scratch /etc/ssh: a valid KRL is
// installed and sshd pointed at it and told to reload once; anything that is
// not a KRL leaves the old file and sshd_config alone (a RevokedKeys line
// without a valid file would refuse every key).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BUSYBOX, busyboxOnlyPath } from '../../test/support/busybox.js';
import { loadOrCreateSshCa } from '../trust/ssh/ssh-ca.js';
import { encodeKrl } from '../trust/ssh/ssh-krl.js';

const node = new URL('../../node/', import.meta.url).pathname;
const skip = existsSync(BUSYBOX) ? false : `needs ${BUSYBOX}`;
const work = mkdtempSync(join(tmpdir(), 'kiln-agent-krl-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Runs `script` after sourcing the agent (no heartbeat sent); returns its exit code. */
function agent(script: string, sshDir: string, pidFile: string): number {
  try {
    execFileSync(BUSYBOX, ['sh', '-c', `. "${node}heartbeat/kiln-heartbeat.sh"; ${script}`], {
      env: {
        PATH: busyboxOnlyPath(work),
        KILN_LIB: join(node, 'agent'),
        KILN_HB_SOURCE_ONLY: '1',
        KILN_SSH_DIR: sshDir,
        KILN_HB_STATE: join(work, 'state'),
        KILN_SYSTEMD_RUN: join(work, 'no-systemd'),
        KILN_SSHD_PID: pidFile,
      },
      stdio: 'ignore',
    });
    return 0;
  } catch (err) {
    return (err as { status: number }).status;
  }
}

test(
  'a KRL is installed, sshd_config gets RevokedKeys first (no Include) and sshd one SIGHUP; a non-KRL changes nothing',
  { skip },
  async () => {
    const ca = await loadOrCreateSshCa(join(work, 'ca'));
    const krl = Buffer.from(encodeKrl({ ca: ca.publicKey, serials: [7], version: 2, generatedAt: new Date(0) }));
    const ssh = join(work, 'ssh');
    mkdirSync(ssh);
    mkdirSync(join(work, 'state'));
    writeFileSync(join(ssh, 'sshd_config'), 'Port 22\nMatch User nobody\n  X11Forwarding no\n');
    // A stand-in sshd: a process whose pid is in the pid file; SIGHUP ends it (default action).
    const sshd = spawn(BUSYBOX, ['sleep', '30'], { stdio: 'ignore' });
    const hup = new Promise<string | null>((r) => sshd.once('exit', (_c, sig) => r(sig)));
    writeFileSync(join(work, 'sshd.pid'), `${sshd.pid}\n`);

    assert.equal(agent(`hb_install_krl ${krl.toString('base64')} abc123`, ssh, join(work, 'sshd.pid')), 0);
    assert.deepEqual(readFileSync(join(ssh, 'kiln-revoked-keys')), krl);
    assert.equal(
      readFileSync(join(ssh, 'sshd_config'), 'utf8'),
      `RevokedKeys ${ssh}/kiln-revoked-keys\nPort 22\nMatch User nobody\n  X11Forwarding no\n`,
      'first, before any Match block',
    );
    assert.equal(readFileSync(join(work, 'state/krl.sha256'), 'utf8'), 'abc123\n');
    assert.equal(await hup, 'SIGHUP', 'sshd told to reload');

    // A second KRL: the line is there, no second line and no reload (sshd reads the file on each login).
    const krl2 = Buffer.from(encodeKrl({ ca: ca.publicKey, serials: [7, 9], version: 3, generatedAt: new Date(0) }));
    assert.equal(agent(`hb_install_krl ${krl2.toString('base64')} def456`, ssh, join(work, 'none.pid')), 0);
    assert.deepEqual(readFileSync(join(ssh, 'kiln-revoked-keys')), krl2);
    assert.equal(readFileSync(join(ssh, 'sshd_config'), 'utf8').match(/RevokedKeys/g)?.length, 1);

    // Not a KRL: refused, the installed one stays.
    assert.equal(agent(`hb_install_krl ${Buffer.from('not a krl at all').toString('base64')} bad`, ssh, ''), 1);
    assert.deepEqual(readFileSync(join(ssh, 'kiln-revoked-keys')), krl2);
    assert.equal(readFileSync(join(work, 'state/krl.sha256'), 'utf8'), 'def456\n');
    assert.equal(existsSync(join(ssh, 'kiln-revoked-keys.new')), false);
  },
);
