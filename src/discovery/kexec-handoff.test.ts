// The image writer's hand-off (node/agent/kexec.sh with install.sh's
// boot_entry) under the busybox the image ships, against fake target roots
// and a fake kexec that records its arguments: kexec loads exactly the
// kernel, initrd and command line of grub.cfg's menu entry (one source of
// truth), and every way kexec cannot be used falls back to the firmware
// reboot with the reason, the A/B hook point included.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeScriptsDir } from './build-discovery-image.js';

const busybox = '/bin/busybox';
const agent = join(nodeScriptsDir, 'agent');
const skip = !existsSync(busybox) ? 'needs busybox' : false;
const work = mkdtempSync(join(tmpdir(), 'kiln-kexec-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

interface Case {
  plan: Record<string, unknown>;
  /** Files under the target's /boot. */
  boot?: string[];
  /** Exit status of the fake `kexec -l`. */
  loadExit?: number;
  /** Shell text defining kexec_before_exec, or nothing. */
  hook?: string;
  /** Shell run after the agent files are sourced (default: the hand-off's finish stage). */
  run?: string;
}

interface Outcome {
  out: string;
  /** Each call of the fake kexec: its arguments. */
  calls: string[][];
  grub: string | null;
  handoff: string;
  why: string;
  target: string;
}

/** Sources lib.sh, install.sh and kexec.sh as init.sh does, with a fake finish_install, and runs `c.run`. */
function handoff(c: Case): Outcome {
  const dir = join(work, `c${n++}`);
  const target = join(dir, 'target');
  mkdirSync(join(target, 'boot/grub'), { recursive: true });
  for (const f of c.boot ?? ['vmlinuz', 'initrd.img']) writeFileSync(join(target, 'boot', f), f);
  const log = join(dir, 'kexec.calls');
  const fake = join(dir, 'kexec');
  writeFileSync(
    fake,
    `#!/bin/sh\n{ for a in "$@"; do printf '%s\\t' "$a"; done; echo; } >> ${log}\n[ "$1" = -l ] && exit ${c.loadExit ?? 0}\nexit 0\n`,
    { mode: 0o755 },
  );
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(c.plan));
  const out = execFileSync(
    busybox,
    [
      'sh',
      '-c',
      `. "$KILN_LIB/lib.sh"; . "$KILN_LIB/install.sh"; . "$KILN_LIB/kexec.sh"
PLAN=$(json_flatten < "$KILN_PLAN")
finish_install() { echo "target unmounted"; }
${c.hook ?? ''}
${c.run ?? 'finish_handoff; echo "HANDOFF=$HANDOFF"; echo "WHY=$HANDOFF_WHY"'}`,
    ],
    {
      encoding: 'utf8',
      env: {
        PATH: '/usr/bin:/bin',
        KILN_LIB: agent,
        KILN_TARGET: target,
        KILN_PLAN: join(dir, 'plan.json'),
        KILN_KEXEC: fake,
        KILN_RUN: dir,
      },
    },
  );
  const calls = existsSync(log)
    ? readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.replace(/\t$/, '').split('\t'))
    : [];
  const grubCfg = join(target, 'boot/grub/grub.cfg');
  return {
    out,
    calls,
    grub: existsSync(grubCfg) ? readFileSync(grubCfg, 'utf8') : null,
    handoff: /^HANDOFF=(.*)$/m.exec(out)?.[1] ?? '',
    why: /^WHY=(.*)$/m.exec(out)?.[1] ?? '',
    target,
  };
}

/** grub.cfg's menu entry: the kernel path, its command line, the initrd path. */
function grubEntry(cfg: string): { kernel: string; args: string; initrd: string | null } {
  const linux = /^ {2}linux (\S+) (.*)$/m.exec(cfg);
  assert.ok(linux, cfg);
  return { kernel: linux[1], args: linux[2], initrd: /^ {2}initrd (\S+)$/m.exec(cfg)?.[1] ?? null };
}

test(
  "kexec loads exactly grub.cfg's entry: kernel, initrd and command line, for a label root and an LVM root",
  { skip },
  () => {
    for (const plan of [
      { handoff: 'kexec', hostname: 'node-7', kernelArgs: 'quiet net.ifnames=0 kiln.x="a b"' },
      {
        handoff: 'kexec',
        hostname: 'node-8',
        layout: 'machine',
        machine: { storage: { root: { device: '/dev/mapper/vg0-root' } } },
      },
    ]) {
      const r = handoff({
        plan,
        run: 'write_grub_cfg && finish_handoff; echo "HANDOFF=$HANDOFF"; echo "WHY=$HANDOFF_WHY"',
      });
      assert.equal(r.handoff, 'kexec', r.out);
      const e = grubEntry(r.grub!);
      assert.deepEqual(r.calls, [
        ['-l', `${r.target}${e.kernel}`, `--initrd=${r.target}${e.initrd}`, `--command-line=${e.args}`],
      ]);
      assert.equal(e.kernel, '/boot/vmlinuz');
      assert.equal(e.initrd, '/boot/initrd.img');
      const root = plan.layout === 'machine' ? '/dev/mapper/vg0-root' : 'LABEL=kiln-root';
      const extra = plan.kernelArgs === undefined ? '' : ` ${plan.kernelArgs}`;
      assert.equal(e.args, `root=${root} ro console=tty0 console=ttyS0,115200${extra}`);
      assert.match(r.out, /^unmounted; the installed kernel is loaded for kexec$/m);
    }
  },
);

test(
  'versioned kernels only: kexec loads the vmlinuz-* and initrd.img-* grub.cfg names; an image without an initrd loads none',
  { skip },
  () => {
    const r = handoff({
      plan: { handoff: 'kexec', hostname: 'n' },
      boot: [
        'vmlinuz-6.1.0-9-amd64',
        'vmlinuz-6.1.0-28-amd64',
        'initrd.img-6.1.0-9-amd64',
        'initrd.img-6.1.0-28-amd64',
      ],
      run: 'write_grub_cfg && finish_handoff; echo "HANDOFF=$HANDOFF"',
    });
    const e = grubEntry(r.grub!);
    assert.match(e.kernel, /^\/boot\/vmlinuz-6\.1\.0-\d+-amd64$/);
    assert.equal(e.initrd, e.kernel.replace('vmlinuz', 'initrd.img'));
    assert.deepEqual(r.calls[0], [
      '-l',
      `${r.target}${e.kernel}`,
      `--initrd=${r.target}${e.initrd}`,
      `--command-line=${e.args}`,
    ]);
    const bare = handoff({
      plan: { handoff: 'kexec', hostname: 'n' },
      boot: ['vmlinuz'],
      run: 'write_grub_cfg && finish_handoff; echo "HANDOFF=$HANDOFF"',
    });
    assert.equal(bare.handoff, 'kexec');
    assert.equal(grubEntry(bare.grub!).initrd, null);
    assert.deepEqual(bare.calls, [
      ['-l', `${bare.target}/boot/vmlinuz`, `--command-line=${grubEntry(bare.grub!).args}`],
    ]);
  },
);

test(
  'plan.handoff reboot, or none: kexec is never called and the finish stage says a firmware reboot is next',
  { skip },
  () => {
    for (const plan of [{ handoff: 'reboot' }, {}]) {
      const r = handoff({ plan });
      assert.equal(r.handoff, 'reboot');
      assert.equal(r.why, '');
      assert.deepEqual(r.calls, []);
      assert.match(r.out, /^unmounted; firmware reboot next$/m);
    }
  },
);

test(
  'kexec that cannot load, an image without a kernel, a failing A/B hook: a firmware reboot, saying why',
  { skip },
  () => {
    const refused = handoff({ plan: { handoff: 'kexec' }, loadExit: 1 });
    assert.equal(refused.handoff, 'reboot');
    assert.equal(refused.why, 'kexec -l /boot/vmlinuz failed');
    assert.match(refused.out, /^unmounted; firmware reboot next \(no kexec: kexec -l \/boot\/vmlinuz failed\)$/m);

    const noKernel = handoff({ plan: { handoff: 'kexec' }, boot: ['initrd.img'] });
    assert.equal(noKernel.handoff, 'reboot');
    assert.equal(noKernel.why, 'the image has no kernel (/boot/vmlinuz)');
    assert.deepEqual(noKernel.calls, []);

    const hookFails = handoff({ plan: { handoff: 'kexec' }, hook: 'kexec_before_exec() { return 1; }' });
    assert.equal(hookFails.handoff, 'reboot');
    assert.equal(hookFails.why, 'kexec_before_exec failed');
    assert.deepEqual(
      hookFails.calls.map((c) => c[0]),
      ['-l', '-u'],
      'the loaded kernel is unloaded again',
    );
  },
);

test('the A/B hook point: kexec_before_exec runs after the load, with the target still mounted', { skip }, () => {
  const r = handoff({
    plan: { handoff: 'kexec' },
    hook: 'kexec_before_exec() { [ -e "$KILN_TARGET/boot/vmlinuz" ] && echo "hook ran; kexec calls so far: $(wc -l < "$KILN_RUN/kexec.calls")"; }',
  });
  assert.equal(r.handoff, 'kexec');
  assert.match(r.out, /^hook ran; kexec calls so far: 1$/m);
});

test(
  'kexec_exec jumps with kexec -e; when the jump returns it says so and returns non-zero (the writer reboots)',
  { skip },
  () => {
    const r = handoff({ plan: { handoff: 'kexec' }, run: 'kexec_exec; echo "rc=$?"' });
    assert.deepEqual(r.calls, [['-e']]);
    assert.match(r.out, /rc=1/);
  },
);
