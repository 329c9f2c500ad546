// Layout ab's node side (node/agent/ab.sh) under busybox ash: the GRUB
// environment block it writes is the one grub-editenv reads and the other way
// round (GRUB's own tool as the peer), in place at 1024 bytes; the boot count
// for kexec follows GRUB's script; the generated GRUB scripts pass
// grub-script-check; the health watcher marks a slot good (disarming the
// watchdog with the magic close) or reboots at its deadline; and the
// /etc/grub.d snippet hands update-grub's menu to the A/B switch.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { nodeScriptsDir } from './build-discovery-image.js';

const run = promisify(execFile);
const ab = join(nodeScriptsDir, 'agent/ab.sh');
const have = (t: string) => ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((d) => existsSync(join(d, t)));
const skip = !have('busybox')
  ? 'needs busybox'
  : !have('grub-editenv') || !have('grub-script-check')
    ? 'needs grub-editenv and grub-script-check (Debian grub-common)'
    : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-ab-agent-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A PATH of busybox applets only, as on the node and in the test image. */
function busyboxPath(): string {
  const bin = join(work, 'bb');
  if (!existsSync(bin)) {
    mkdirSync(bin);
    execFileSync('busybox', ['--install', '-s', bin]);
  }
  return bin;
}

/** Runs `script` under busybox ash with ab.sh sourced (stderr into stdout, in order); env adds to a minimal environment. */
async function sh(script: string, env: Record<string, string> = {}): Promise<string> {
  const r = await run('busybox', ['sh', '-c', `. ${ab}\n{\n${script}\n} 2>&1`], {
    env: { PATH: busyboxPath(), KILN_AB_SOURCE_ONLY: '1', ...env },
    timeout: 60_000,
  });
  return r.stdout + r.stderr;
}

function editenvList(file: string): string {
  return execFileSync('grub-editenv', [file, 'list'], { encoding: 'utf8' });
}

test('the switch state is a GRUB environment block both ways, rewritten in place at 1024 bytes', { skip }, async () => {
  const f = join(work, 'grubenv-1');
  execFileSync('grub-editenv', [f, 'create']);
  execFileSync('grub-editenv', [f, 'set', 'kiln_good=a', 'other=kept']);
  const inode = statSync(f).ino;
  await sh(`ab_arm b 3 ${f}`);
  assert.equal(editenvList(f), 'kiln_good=a\nother=kept\nkiln_try=b\nkiln_tries=3\n');
  assert.equal(statSync(f).size, 1024);
  assert.equal(statSync(f).ino, inode, 'written in place (GRUB writes the sectors the file has)');
  assert.equal(readFileSync(f, 'latin1').slice(0, 25), '# GRUB Environment Block\n');
  execFileSync('grub-editenv', [f, 'set', 'kiln_tries=1']);
  assert.equal(
    await sh(`ab_env_get ${f} kiln_tries; ab_env_get ${f} kiln_good; echo "[$(ab_env_get ${f} absent)]"`),
    '1\na\n[]\n',
  );
  await sh(`ab_mark_good ${f} b`);
  assert.equal(editenvList(f), 'other=kept\nkiln_good=b\n');
  // A block that would overflow is refused, the old one kept.
  const out = await sh(`ab_env_set ${f} big=${'x'.repeat(1100)} || echo refused`);
  assert.match(out, /would be \d+ bytes \(max 1024\)[\s\S]*refused/);
  assert.equal(editenvList(f), 'other=kept\nkiln_good=b\n');
});

test("ab_count_boot (a kexec's boot) counts a trial down as GRUB does, then falls back", { skip }, async () => {
  const f = join(work, 'grubenv-2');
  await sh(`ab_mark_good ${f} a && ab_arm b 2 ${f}`);
  assert.equal(await sh(`ab_count_boot ${f}`), 'b\n');
  assert.match(editenvList(f), /kiln_tries=1/);
  assert.equal(await sh(`ab_count_boot ${f}`), 'b\n');
  assert.match(editenvList(f), /kiln_tries=0/);
  assert.equal(await sh(`ab_count_boot ${f}`), 'a\n', 'no tries left: the good slot');
  assert.equal(editenvList(f), 'kiln_good=a\nkiln_fell_back=b\n');
  assert.equal(await sh(`ab_count_boot ${f}`), 'a\n', 'no trial pending: the good slot, nothing written');
  await sh(`ab_arm a 1 ${f}`);
  assert.equal(editenvList(f), 'kiln_good=a\nkiln_try=a\nkiln_tries=1\n', 'a new deploy clears kiln_fell_back');
});

test(
  'ab_kexec_entry counts the boot and names the kernel, initrd and command line of the slot it starts',
  { skip },
  async () => {
    const esp = join(work, 'esp-k');
    mkdirSync(join(esp, 'kiln'), { recursive: true });
    await sh(`ab_mark_good ${esp}/kiln/grubenv a && ab_arm b 1 ${esp}/kiln/grubenv`);
    await sh(`ab_slot_cfg a /boot/vmlinuz-a /boot/initrd.img-a 'console=ttyS0' > ${esp}/kiln/slot-a.cfg`);
    await sh(`ab_slot_cfg b /boot/vmlinuz /boot/initrd.img 'console=ttyS0 quiet' > ${esp}/kiln/slot-b.cfg`);
    const first = await sh(`ab_kexec_entry ${esp}`);
    assert.equal(
      first,
      "AB_SLOT=b\nAB_KERNEL=/boot/vmlinuz\nAB_INITRD=/boot/initrd.img\nAB_CMDLINE='root=LABEL=kiln-root-b ro kiln.slot=b console=ttyS0 quiet'\n",
    );
    assert.match(editenvList(join(esp, 'kiln/grubenv')), /kiln_tries=0/, 'the kexec boot used the try');
    assert.match(
      await sh(`ab_kexec_entry ${esp}`),
      /^AB_SLOT=a\nAB_KERNEL=\/boot\/vmlinuz-a\n/,
      'no tries left: slot a',
    );
  },
);

test('the ESP switch, a slot entry and the grub.d snippet are valid GRUB script', { skip }, async () => {
  const cfg = await sh('ab_grub_cfg 3');
  writeFileSync(join(work, 'ab.cfg'), cfg);
  execFileSync('grub-script-check', [join(work, 'ab.cfg')]);
  assert.equal(
    cfg,
    [
      '# Kiln A/B roots: written by the image writer; update-grub never writes here.',
      'search --no-floppy --file /kiln/grubenv --set=kiln_esp',
      'load_env -f ($kiln_esp)/kiln/grubenv',
      'set slot=$kiln_good',
      'if [ -z "$slot" ]; then set slot=a; fi',
      'if [ -n "$kiln_try" ]; then',
      '  if [ "$kiln_tries" = 3 ]; then set kiln_tries=2; set slot=$kiln_try',
      '  elif [ "$kiln_tries" = 2 ]; then set kiln_tries=1; set slot=$kiln_try',
      '  elif [ "$kiln_tries" = 1 ]; then set kiln_tries=0; set slot=$kiln_try',
      '  else set kiln_fell_back=$kiln_try; set kiln_try=; set kiln_tries=',
      '  fi',
      '  save_env -f ($kiln_esp)/kiln/grubenv kiln_try kiln_tries kiln_fell_back',
      'fi',
      'set timeout=1',
      'set default=0',
      'source ($kiln_esp)/kiln/slot-$slot.cfg',
      '',
    ].join('\n'),
  );
  const slot = await sh("ab_slot_cfg b /boot/vmlinuz /boot/initrd.img 'console=ttyS0,115200 quiet'");
  assert.equal(
    slot,
    [
      "menuentry 'Kiln: slot b' {",
      '  search --no-floppy --label kiln-root-b --set=root',
      '  linux /boot/vmlinuz root=LABEL=kiln-root-b ro kiln.slot=b console=ttyS0,115200 quiet',
      '  initrd /boot/initrd.img',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(join(work, 'slot.cfg'), slot);
  execFileSync('grub-script-check', [join(work, 'slot.cfg')]);
});

test("update-grub's menu starts with the A/B switch: the /etc/grub.d snippet's output", { skip }, async () => {
  // grub-mkconfig runs every executable /etc/grub.d/* in order and concatenates their output.
  const snippet = join(work, '09_kiln_ab');
  writeFileSync(snippet, await sh('ab_grub_d'), { mode: 0o755 });
  const out = execFileSync('busybox', ['sh', snippet], { encoding: 'utf8' });
  assert.equal(
    out,
    [
      'if search --no-floppy --file /kiln/ab.cfg --set=kiln_esp; then',
      '  configfile ($kiln_esp)/kiln/ab.cfg',
      'fi',
      '',
    ].join('\n'),
  );
  writeFileSync(join(work, 'menu.cfg'), out);
  execFileSync('grub-script-check', [join(work, 'menu.cfg')]);
  // grub-mkconfig runs the snippets in name order: 09 comes before Debian's 10_linux, so the switch precedes every entry.
  assert.deepEqual(['10_linux', '09_kiln_ab', '05_debian_theme'].sort(), ['05_debian_theme', '09_kiln_ab', '10_linux']);
});

/** A fake /proc with the kernel command line and uptime, for the watcher. */
function fakeProc(name: string, cmdline: string): string {
  const proc = join(work, name, 'proc');
  mkdirSync(proc, { recursive: true });
  writeFileSync(join(proc, 'cmdline'), `${cmdline}\n`);
  writeFileSync(join(proc, 'uptime'), '12.34 20.00\n');
  return proc;
}

test(
  'the watcher marks a healthy trial slot good and disarms the watchdog with the magic close',
  { skip },
  async () => {
    const f = join(work, 'grubenv-3');
    await sh(`ab_mark_good ${f} a && ab_arm b 1 ${f} && ab_env_set ${f} kiln_tries=0`);
    const dog = join(work, 'watchdog-3');
    writeFileSync(dog, '');
    const hook = join(work, 'hook-ok');
    writeFileSync(hook, '#!/bin/sh\necho hook ran\n', { mode: 0o755 });
    const out = await sh('ab_watch', {
      KILN_AB_ENV: f,
      KILN_PROC: fakeProc('w3', 'ro root=LABEL=kiln-root-b kiln.slot=b console=ttyS0'),
      KILN_AB_HOOK: hook,
      KILN_AB_WATCHDOG: dog,
      KILN_ETC: join(work, 'no-etc'),
      KILN_SYSTEMD_RUN: join(work, 'no-systemd'),
      KILN_AB_REBOOT: 'echo REBOOT',
    });
    assert.match(out, /kiln-ab: trial boot of slot b; watchdog armed \(330s\); health check for up to 300s/);
    assert.match(out, /hook ran\nkiln-ab: slot b is healthy; it boots from now on/);
    assert.doesNotMatch(out, /REBOOT/);
    assert.equal(editenvList(f), 'kiln_good=b\n');
    // busybox watchdog got SIGTERM: its last write is 'V', the magic close that stops the timer.
    for (let i = 0; i < 50 && !readFileSync(dog, 'latin1').endsWith('V'); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(readFileSync(dog, 'latin1').endsWith('V'), JSON.stringify(readFileSync(dog, 'latin1')));
  },
);

test(
  'the watcher reboots a trial slot whose health check fails until its deadline; a good slot is left alone',
  { skip },
  async () => {
    const f = join(work, 'grubenv-4');
    await sh(`ab_mark_good ${f} a && ab_arm b 1 ${f} && ab_env_set ${f} kiln_tries=0`);
    const etc = join(work, 'etc-4');
    mkdirSync(etc, { recursive: true });
    // The plan's deadline (ab.env) and a fast poll; the uptime never moves in the fake /proc, so a counter moves it.
    writeFileSync(join(etc, 'ab.env'), 'KILN_AB_DEADLINE=10\nKILN_AB_POLL=0\n');
    const proc = fakeProc('w4', 'kiln.slot=b');
    const hook = join(work, 'hook-fail');
    writeFileSync(
      hook,
      `#!/bin/sh\nn=$(cat ${work}/n 2>/dev/null || echo 0); echo $((n + 1)) > ${work}/n\necho "$((12 + n * 4)).00 1.00" > ${proc}/uptime\nexit 1\n`,
      { mode: 0o755 },
    );
    const env = {
      KILN_AB_ENV: f,
      KILN_PROC: proc,
      KILN_AB_HOOK: hook,
      KILN_DEV: join(work, 'no-dev'),
      KILN_ETC: etc,
      KILN_SYSTEMD_RUN: join(work, 'no-systemd'),
      KILN_AB_REBOOT: 'echo REBOOT',
    };
    const out = await sh('ab_watch', env);
    assert.match(out, /^kiln-ab: no .*no-dev\/watchdog: a hang is not reset \(only a failing check is\)\n/);
    assert.match(
      out,
      /kiln-ab: slot b not healthy after 10s; rebooting \(GRUB falls back when its tries are used\)\nREBOOT\n$/,
    );
    assert.equal(readFileSync(join(work, 'n'), 'utf8'), '4\n', 'checked at 0, 4, 8 and 12 s of uptime');
    assert.equal(editenvList(f), 'kiln_good=a\nkiln_try=b\nkiln_tries=0\n', 'the trial is not marked good');
    // The slot GRUB falls back to is not on trial: nothing armed, nothing checked.
    const back = await sh('ab_watch', { ...env, KILN_PROC: fakeProc('w4b', 'kiln.slot=a') });
    assert.equal(back, 'kiln-ab: slot a is not on trial\n');
  },
);

test('kiln-ab switch makes the other slot boot (kiln host rollback); status reports the state', { skip }, async () => {
  const f = join(work, 'grubenv-5');
  await sh(`ab_mark_good ${f} b`);
  const env = { KILN_AB_ENV: f, KILN_PROC: fakeProc('w5', 'kiln.slot=b') };
  assert.equal(await sh('ab_status', env), '{"slot":"b","good":"b","try":null,"tries":null,"fellBack":null}\n');
  assert.equal(await sh('ab_switch', env), 'kiln-ab: slot a boots next\n');
  assert.equal(editenvList(f), 'kiln_good=a\n');
});
