// Test support: an OpenIPMI `ipmi_sim` BMC on 127.0.0.1 whose chassis control
// runs a shell script that keeps power and boot device in files, so a test can
// observe what the BMC was told without going through ipmitool.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running simulator; `stop` kills it by PID and removes its directory. */
export interface IpmiSim {
  port: number;
  username: string;
  password: string;
  /** Power as the chassis script last set it. */
  power(): 'on' | 'off';
  /** Boot device as ipmi_sim handed it to the chassis script (`pxe`, `default` for disk, …). */
  boot(): string | undefined;
  stop(): Promise<void>;
}

/** True when ipmi_sim and ipmitool are installed. */
export function hasIpmiSim(): boolean {
  return ['ipmi_sim', 'ipmitool'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);
}

/** Picks a free UDP port on 127.0.0.1 (bind to 0, read, close). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ipmi_sim calls the chassis_control program as `prog get <parm>...` (prints
// `parm:value` lines) or `prog set <parm> <value>...`.
const chassisScript = (dir: string) => `#!/bin/sh
d='${dir}'
op=$1; shift
if [ "$op" = get ]; then
  for p in "$@"; do
    case $p in
      power) echo "power:$(cat $d/power 2>/dev/null || echo 0)";;
      boot) echo "boot:$(cat $d/boot 2>/dev/null || echo default)";;
    esac
  done
else
  while [ $# -gt 0 ]; do
    case $1 in power) echo "$2" > $d/power;; boot) echo "$2" > $d/boot;; esac
    shift 2
  done
fi
`;

/** Starts ipmi_sim with one admin user; resolves once it answers a status request (or rejects after 10 s). */
export async function startIpmiSim(password = 'sim-Secret-42'): Promise<IpmiSim> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-ipmisim-'));
  const port = await freeUdpPort();
  const username = 'kiln';
  writeFileSync(join(dir, 'chassis.sh'), chassisScript(dir));
  chmodSync(join(dir, 'chassis.sh'), 0o755);
  writeFileSync(
    join(dir, 'lan.conf'),
    [
      'name "kilnsim"',
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr 127.0.0.1 ${port}`,
      '    priv_limit admin',
      '    allowed_auths_callback none md2 md5 straight',
      '    allowed_auths_user none md2 md5 straight',
      '    allowed_auths_operator none md2 md5 straight',
      '    allowed_auths_admin none md2 md5 straight',
      '    guid a123456789abcdefa123456789abcdef',
      '  endlan',
      `  chassis_control "${join(dir, 'chassis.sh')}"`,
      `  user 2 true "${username}" "${password}" admin 10 none md2 md5 straight`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'emu.cmd'),
    [
      'mc_setbmc 0x20',
      'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr',
      'sel_enable 0x20 1000 0x0a',
      'mc_enable 0x20',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    'ipmi_sim',
    ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'emu.cmd'), '-s', join(dir, 'state'), '-n'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid) {
      const gone = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const read = (f: string) => {
    try {
      return readFileSync(join(dir, f), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const sim: IpmiSim = {
    port,
    username,
    password,
    stop,
    power: () => (read('power') === '1' ? 'on' : 'off'),
    boot: () => read('boot'),
  };
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const r = spawnSync(
      'ipmitool',
      [
        '-I',
        'lanplus',
        '-H',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        username,
        '-E',
        '-N',
        '1',
        '-R',
        '1',
        'chassis',
        'power',
        'status',
      ],
      {
        env: { PATH: process.env.PATH, IPMI_PASSWORD: password },
        timeout: 5000,
        encoding: 'utf8',
      },
    );
    if (r.status === 0) return sim;
    if (child.exitCode !== null) break;
    await new Promise((r2) => setTimeout(r2, 200));
  }
  await stop();
  throw new Error(`ipmi_sim did not come up on 127.0.0.1:${port}`);
}
