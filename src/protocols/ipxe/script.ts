// iPXE scripts (ipxe.org/scripting), rendered as complete text. Pure.
//
// iPXE expands ${…} in every command line and has no quoting, so any value
// that comes from outside Kiln (a template's kernel command line, a host
// name) must not contain "${", a newline or another control character;
// `ipxeSafe` refuses those instead of guessing an escape.

/** Thrown when a value cannot be placed in an iPXE script safely. */
export class IpxeScriptError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/** Returns `value` when it is safe on an iPXE command line; throws IpxeScriptError otherwise. */
export function ipxeSafe(field: string, value: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new IpxeScriptError(field, 'contains a newline or control character');
  if (value.includes('${')) throw new IpxeScriptError(field, 'contains "${", which iPXE would expand');
  return value;
}

/** What to boot: a kernel with its initrds and command line. Initrd names are what the kernel sees (UEFI needs `initrd=<name>`). */
export interface IpxeKernelBoot {
  kernel: string;
  initrds: Array<{ url: string; name: string }>;
  cmdline: string;
}

/** Options shared by every script: the retry URL (this script's own URL) and the delay before retrying, in seconds. */
export interface IpxeRetry {
  url: string;
  delaySeconds: number;
}

function retryBlock(r: IpxeRetry, what: string): string[] {
  return [
    ':failed',
    `echo Kiln: ${what} failed; retrying in ${r.delaySeconds} s`,
    `sleep ${r.delaySeconds}`,
    `chain --replace --autofree ${ipxeSafe('retry url', r.url)} || goto failed`,
  ];
}

/** A script that boots a kernel; any failing step echoes, waits and retries (never a silent hang). */
export function formatKernelScript(title: string, boot: IpxeKernelBoot, retry: IpxeRetry): string {
  // UEFI's EFI stub finds initrds only by the names on the command line
  // (`initrd=<name>`); BIOS kernels ignore the argument, so always add it.
  const names = boot.initrds.map((i) => `initrd=${ipxeSafe('initrd name', i.name)}`).join(' ');
  const cmdline = [names, ipxeSafe('cmdline', boot.cmdline)].filter(Boolean).join(' ');
  return [
    '#!ipxe',
    `echo Kiln: ${ipxeSafe('title', title)}`,
    `kernel ${ipxeSafe('kernel', boot.kernel)} ${cmdline} || goto failed`,
    ...boot.initrds.map((i) => `initrd --name ${i.name} ${ipxeSafe('initrd', i.url)} || goto failed`),
    'boot || goto failed',
    ...retryBlock(retry, 'booting the kernel'),
    '',
  ].join('\n');
}

/**
 * A script that leaves network boot for the local disk. Legacy BIOS:
 * `sanboot --no-describe --drive 0x80` boots the first hard disk; UEFI:
 * `exit 1` returns a failure to the firmware boot manager, which tries the next entry.
 */
export function formatLocalBootScript(title: string, platform: 'pcbios' | 'efi'): string {
  return [
    '#!ipxe',
    `echo Kiln: ${ipxeSafe('title', title)}`,
    // UEFI 2.10 §3.1.1: when a Boot#### image returns EFI_SUCCESS the boot
    // manager MAY stop walking BootOrder and show its menu, and EDK2 (OVMF)
    // does. iPXE loaded as an application (the firmware's own PXE or HTTP boot
    // fetched ipxe.efi) returns success on a plain `exit`, so the disk after the
    // network options was never tried. A non-zero status is a failed option and
    // the firmware moves on to the next one, the disk.
    ...(platform === 'pcbios' ? ['sanboot --no-describe --drive 0x80 || exit'] : ['exit 1']),
    '',
  ].join('\n');
}

/** A script that says why nothing can boot now, then waits and asks again. */
export function formatWaitScript(reason: string, retry: IpxeRetry): string {
  return [
    '#!ipxe',
    `echo Kiln: ${ipxeSafe('reason', reason.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\$\{/g, '$ {'))}`,
    'goto failed',
    ...retryBlock(retry, 'nothing to boot yet'),
    '',
  ].join('\n');
}

/** The first script every iPXE client gets: chain to its own per-host script (iPXE percent-encodes the values). */
export function formatChainScript(hostScriptUrl: string, retryDelaySeconds: number): string {
  const url = `${hostScriptUrl}?mac=\${net0/mac}&uuid=\${uuid}&arch=\${buildarch}&platform=\${platform}`;
  return [
    '#!ipxe',
    ':retry',
    `chain --replace --autofree ${url} || goto failed`,
    ':failed',
    `echo Kiln: fetching this machine's boot script failed; retrying in ${retryDelaySeconds} s`,
    `sleep ${retryDelaySeconds}`,
    'goto retry',
    '',
  ].join('\n');
}
