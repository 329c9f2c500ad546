// Boot storm: N simulated machines power on at once and go the whole
// firmware path against one `kiln serve` (DHCP full mode behind a relay, TFTP,
// HTTP boot) in a network namespace, the way their firmware and iPXE do it
// (test/support/fleet.ts):
//   firmware DHCP → TFTP undionly.kpxe (BIOS) | TFTP ipxe.efi (UEFI PXE)
//   | HEAD+GET ipxe.efi (UEFI HTTP boot) → iPXE DHCP → /boot.ipxe
//   → per-host script → discovery kernel + initrd (23 MB) → discovery report.
// The run counts machines that failed and machines that had to resend
// something (a DHCP retransmission within one boot is normal firmware
// behaviour; a failure would be a second boot). There is no peer to run side
// by side: no single peer does this chain (dnsmasq + nginx have no discovery
// step); the figures are Kiln's own, with the controller's memory after.
// Run as root: npx tsx bench/boot-storm.bench.ts [hosts=1000] [parallel=all] [--no-images]
//   [--firmware=bios|uefi-pxe|uefi-http|mixed] (default bios; mixed = a third of each)
//   [--tftp-nice=0..19] (tftp.nativeNice; the config default when absent)
// The node image is built once into KILN_BENCH_CACHE (default /var/tmp/kiln-bench-cache);
// KILN_STORM_CPU_PROF=DIR writes the controller's CPU profile there.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kilnBin } from '../test/support/serve-process.js';
import { fleetFirmwares, runFleet, type FleetFirmware } from '../test/support/fleet.js';
import { STORM_HTTP, startStormBed } from '../test/support/storm-bed.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
/** --no-images: skip the kernel and initrd downloads, to see the control plane alone. */
const images = !process.argv.includes('--no-images');
const fwArg = process.argv.find((a) => a.startsWith('--firmware='))?.slice('--firmware='.length) ?? 'bios';
if (fwArg !== 'mixed' && !fleetFirmwares.includes(fwArg as FleetFirmware))
  throw new Error(`--firmware must be one of ${fleetFirmwares.join(', ')} or mixed`);
const FIRMWARE = fwArg as FleetFirmware | 'mixed';
const niceArg = process.argv.find((a) => a.startsWith('--tftp-nice='))?.slice('--tftp-nice='.length);
const TFTP_NICE = niceArg === undefined ? undefined : Number(niceArg);
if (TFTP_NICE !== undefined && !(Number.isInteger(TFTP_NICE) && TFTP_NICE >= 0 && TFTP_NICE <= 19))
  throw new Error('--tftp-nice must be 0..19');
const HOSTS = Math.max(1, Math.min(20_000, Number(args[0] ?? 1000)));
const PARALLEL = Math.max(1, Math.min(HOSTS, Number(args[1] ?? HOSTS)));
const CACHE = process.env['KILN_BENCH_CACHE'] ?? '/var/tmp/kiln-bench-cache';
const prof = process.env['KILN_STORM_CPU_PROF'];

const work = mkdtempSync(join(tmpdir(), 'kiln-storm-'));
const dataDir = join(work, 'data');
mkdirSync(CACHE, { recursive: true });
mkdirSync(dataDir, { mode: 0o700 });
symlinkSync(CACHE, join(dataDir, 'cache'));
const logFile = join(tmpdir(), 'kiln-storm.log');

if (images) {
  process.stdout.write(`node image: building or reusing in ${CACHE}\n`);
  execFileSync(process.execPath, [kilnBin, 'image', 'build-discovery', '--data-dir', dataDir], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 15 * 60_000,
  });
}
const bed = await startStormBed({
  work,
  dataDir,
  nodeImage: images,
  logFile,
  ...(TFTP_NICE !== undefined ? { tftpNice: TFTP_NICE } : {}),
  nodeFlags: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [],
});
let run;
let metrics = '';
try {
  process.stdout.write(
    `storm: ${HOSTS} machines (${FIRMWARE}), ${PARALLEL} at once, tftp.nativeNice ${TFTP_NICE ?? 'default'}${images ? '' : ', no kernel/initrd downloads'}\n`,
  );
  run = await runFleet({ hosts: HOSTS, parallel: PARALLEL, images, firmware: FIRMWARE });
  metrics = await (
    await fetch(`${STORM_HTTP}/metrics`, { headers: { authorization: `Bearer ${bed.adminToken()}` } }).catch(
      () => new Response(''),
    )
  ).text();
} finally {
  await bed.close();
  rmSync(work, { recursive: true, force: true });
}
const { outcomes, wallSeconds: wall, lag } = run;
const rss = Number(/^process_resident_memory_bytes (\d+)/m.exec(metrics)?.[1] ?? 0);
const ok = outcomes.filter((o) => o.ok);
const failed = outcomes.filter((o) => !o.ok);
const retried = outcomes.filter((o) => o.retries > 0);
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))] ?? 0;
};
const row = (name: string, xs: number[]) =>
  `${name.padEnd(28)} ${pct(xs, 0.5).toFixed(0).padStart(8)} ${pct(xs, 0.99).toFixed(0).padStart(8)} ${Math.max(
    0,
    ...xs,
  )
    .toFixed(0)
    .padStart(8)}`;
const ts = ok.map((o) => o.t!);
const totalBytes = outcomes.reduce((n, o) => n + o.bytes, 0);

console.log(
  `\nBoot storm: ${HOSTS} simulated machines (firmware ${FIRMWARE}) at once (parallel ${PARALLEL}), one kiln serve, 2 cores`,
);
const retriedStages = new Map<string, number>();
for (const o of outcomes) for (const st of o.retriedAt) retriedStages.set(st, (retriedStages.get(st) ?? 0) + 1);
console.log(
  `machines booted to a discovery report: ${ok.length} / ${HOSTS}; failed: ${failed.length}; needed a retry: ${retried.length}${retried.length ? ` (${[...retriedStages].map(([st, n]) => `${st} ${n}`).join(', ')})` : ''}`,
);
console.log(
  `wall time ${wall.toFixed(1)} s; ${(ok.length / wall).toFixed(1)} machines/s; ${(totalBytes / 1024 / 1024 / wall).toFixed(0)} MiB/s of boot files; controller RSS after: ${(rss / 1024 / 1024).toFixed(0)} MiB`,
);
console.log(
  `simulator event-loop delay: p50 ${lag.p50.toFixed(0)} ms, p99 ${lag.p99.toFixed(0)} ms, max ${lag.max.toFixed(0)} ms`,
);
console.log(`\n${'stage (ms)'.padEnd(28)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`);
console.log(
  row(
    'firmware DHCP (DORA)',
    ts.map((t) => t.dhcp),
  ),
);
for (const fw of fleetFirmwares) {
  const xs = ok.filter((o) => o.firmware === fw).map((o) => o.t!.loader);
  if (xs.length)
    console.log(
      row({ bios: 'TFTP undionly.kpxe', 'uefi-pxe': 'TFTP ipxe.efi', 'uefi-http': 'HTTP HEAD+GET ipxe.efi' }[fw], xs),
    );
}
console.log(
  row(
    'iPXE DHCP (DORA)',
    ts.map((t) => t.ipxeDhcp),
  ),
);
console.log(
  row(
    '/boot.ipxe + per-host script',
    ts.map((t) => t.scripts),
  ),
);
console.log(
  row(
    'kernel + initrd',
    ts.map((t) => t.images),
  ),
);
console.log(
  row(
    'discovery report',
    ts.map((t) => t.report),
  ),
);
console.log(
  row(
    'whole boot',
    ts.map((t) => t.total),
  ),
);
if (FIRMWARE === 'mixed')
  for (const fw of fleetFirmwares)
    console.log(
      row(
        `whole boot, ${fw}`,
        ok.filter((o) => o.firmware === fw).map((o) => o.t!.total),
      ),
    );
const reasons = new Map<string, number>();
for (const f of failed) reasons.set(f.error ?? '?', (reasons.get(f.error ?? '?') ?? 0) + 1);
for (const [r, n] of [...reasons].slice(0, 10)) console.log(`failure x${n}: ${r}`);
if (reasons.size > 10) console.log(`… and ${reasons.size - 10} other failure messages`);
if (failed.length) console.log(`controller log: ${logFile}`);
