// Test support for the QEMU integration tests: a namespace with a bridge, a tap
// for the guest and busybox udhcpd, plus a QEMU (TCG) launcher. Everything is
// stopped by PID and the namespace is removed by `stop()`.
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { createNetns, type TestNetns } from '../../test/support/netns.js';

/** A namespace whose bridge joins the guest's tap and the veth to the root namespace. */
export interface VmNetwork {
  ns: TestNetns;
  /** Address of the root-namespace end (where the fake API listens). */
  hostIp: string;
  tap: string;
  stop(): void;
}

/**
 * Creates the namespace, bridge, tap and a DHCP server handing out .100–.150 of a /24: `net` ("10.42.7", the
 * first three octets) when given, else one picked from the PID.
 */
export function createVmNetwork(tag: string, workDir: string, net?: string): VmNetwork {
  net ??= `10.${150 + (process.pid % 90)}.${Math.floor(Math.random() * 250)}`;
  const ns = createNetns(tag, `${net}.1/24`);
  const procs: ChildProcess[] = [];
  try {
    ns.exec('ip', ['link', 'add', 'br0', 'type', 'bridge']);
    ns.exec('ip', ['link', 'set', ns.nsIf, 'master', 'br0']);
    ns.exec('ip', ['tuntap', 'add', 'tap0', 'mode', 'tap']);
    ns.exec('ip', ['link', 'set', 'tap0', 'master', 'br0']);
    ns.exec('ip', ['link', 'set', 'tap0', 'up']);
    ns.exec('ip', ['link', 'set', 'br0', 'up']);
    ns.exec('ip', ['addr', 'add', `${net}.2/24`, 'dev', 'br0']);
    const conf = join(workDir, `udhcpd-${ns.name}.conf`);
    writeFileSync(
      conf,
      [
        `start ${net}.100`,
        `end ${net}.150`,
        'interface br0',
        `lease_file ${join(workDir, 'udhcpd.leases')}`,
        `pidfile ${join(workDir, 'udhcpd.pid')}`,
        'option subnet 255.255.255.0',
        `option router ${net}.1`,
        'option lease 3600',
        '',
      ].join('\n'),
    );
    writeFileSync(join(workDir, 'udhcpd.leases'), '');
    procs.push(ns.spawn('busybox', ['udhcpd', '-f', conf], { stdio: 'ignore' }));
  } catch (err) {
    ns.remove();
    throw err;
  }
  return {
    ns,
    hostIp: `${net}.1`,
    tap: 'tap0',
    stop() {
      for (const p of procs)
        if (p.exitCode === null && p.pid !== undefined) {
          try {
            process.kill(p.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      ns.remove();
    },
  };
}

/**
 * QEMU's accelerator arguments: TCG unless KILN_QEMU_ACCEL=kvm (then KVM,
 * with QEMU falling back to TCG if KVM cannot start). Not automatic on
 * /dev/kvm: on a nested host whose KVM lacks CPU features the device exists,
 * QEMU starts, and the guest never runs (seen on this project's build machine), so a test
 * would time out instead of running slowly.
 */
export function qemuAccelArgs(): string[] {
  return process.env['KILN_QEMU_ACCEL'] === 'kvm' ? ['-accel', 'kvm', '-accel', 'tcg'] : ['-accel', 'tcg'];
}

/** How to start one guest. Without `kernel` the guest boots from `disk` through its firmware. */
export interface VmSpec {
  network: VmNetwork;
  mac: string;
  disk: string;
  serialLog: string;
  firmware: 'bios' | 'uefi';
  workDir: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  memoryMiB?: number;
  /** Adds QEMU's i6300esb watchdog, its expiry a reset (with -no-reboot: QEMU exits, as on a guest reboot). */
  watchdog?: boolean;
}

/** A running guest; `exited` resolves with the exit code; `stop` kills it by PID. */
export interface Vm {
  pid: number;
  exited: Promise<number | null>;
  stop(): void;
}

/** Starts QEMU (TCG, or KVM with KILN_QEMU_ACCEL=kvm; 2 vCPUs; no reboot: a guest reboot ends the process) inside the namespace. */
export function startVm(spec: VmSpec): Vm {
  const args = [
    ...qemuAccelArgs(),
    '-smp',
    '2',
    '-m',
    String(spec.memoryMiB ?? 768),
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
    '-serial',
    `file:${spec.serialLog}`,
    '-drive',
    `file=${spec.disk},if=virtio,format=qcow2`,
    '-netdev',
    `tap,id=n0,ifname=${spec.network.tap},script=no,downscript=no`,
    '-device',
    `virtio-net-pci,netdev=n0,mac=${spec.mac}`,
  ];
  if (spec.firmware === 'uefi') {
    const vars = join(spec.workDir, `ovmf-vars-${Date.now()}.fd`);
    copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
    args.push(
      '-drive',
      'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
      '-drive',
      `if=pflash,format=raw,unit=1,file=${vars}`,
    );
  }
  if (spec.watchdog === true) args.push('-device', 'i6300esb', '-action', 'watchdog=reset');
  if (spec.kernel !== undefined)
    args.push('-kernel', spec.kernel, '-initrd', spec.initrd ?? '', '-append', spec.append ?? '');
  const child = spec.network.ns.spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code !== 0 && stderr !== '') process.stderr.write(`qemu: ${stderr}\n`);
      resolve(code);
    }),
  );
  if (child.pid === undefined) throw new Error('qemu did not start');
  const pid = child.pid;
  return {
    pid,
    exited,
    stop() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    },
  };
}
