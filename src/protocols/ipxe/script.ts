// iPXE scripts (ipxe.org/scripting), rendered as complete text. Pure.
//
// How iPXE reads a script (src/image/script.c, src/core/exec.c): a line that
// ends with `\` continues on the next one; a line is split into words on
// iPXE's whitespace (space, \t, \n, \v, \f, \r) with no quoting at all; a
// word that is exactly `&&`, `||` or `;` ends one command and starts the next,
// and a word that begins with `#` starts a comment; then `${name}` inside a
// word expands a setting (repeatedly, so an expansion may expand again).
// Commands stop reading options at their first non-option word.
//
// So every value Kiln puts in a script goes through one of two encoders:
// - `ipxeText` for prose (echo lines): never fails; it removes control
//   characters, breaks `${`, quotes words iPXE would read as a separator or a
//   comment and a trailing `\`, so the value is only ever literal words of
//   the echo.
// - `ipxeArgs`/`ipxeUrl`/`ipxeName` for values that must reach a command
//   unchanged (URLs, kernel arguments, initrd names): they return the value
//   as it is when it is literal words already, and throw IpxeScriptError
//   otherwise (the caller then serves a wait script that says why).
// `parseIpxeScript` (parse-script.ts) is the model of the reader the tests
// check every formatter against.

/** Thrown when a value cannot be placed in an iPXE script safely. */
export class IpxeScriptError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** C0 and C1 control characters and DEL: iPXE's whitespace among them ends words or lines, ESC and CSI drive the console. */
// eslint-disable-next-line no-control-regex -- refusing control characters means naming them.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex -- refusing control characters means naming them.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/** True for a word iPXE does not pass to a command as an argument: a command separator or the start of a comment. */
export function isIpxeSpecialWord(word: string): boolean {
  return word === '&&' || word === '||' || word === ';' || word.startsWith('#');
}

/**
 * Encodes prose for an `echo` line: the result is only literal words (no
 * command separator, no comment, no `${`, no control character, no trailing
 * backslash). Whitespace runs become one space; a word iPXE would treat
 * specially is shown in single quotes (`'&&'`, `'#1'`); `${` is shown as
 * `$ {`. Never throws.
 */
export function ipxeText(value: string): string {
  return value
    .replace(CONTROLS, ' ')
    .replace(/\$\{/g, '$ {')
    .split(' ')
    .filter((w) => w !== '')
    .map((w) => (isIpxeSpecialWord(w) || w.endsWith('\\') ? `'${w}'` : w))
    .join(' ');
}

/**
 * Returns `value` when iPXE reads it as exactly the words it contains
 * (separated by single spaces); throws IpxeScriptError naming the problem
 * otherwise. For kernel command lines and other values that must arrive unchanged.
 */
export function ipxeArgs(field: string, value: string): string {
  if (CONTROL.test(value)) throw new IpxeScriptError(field, 'contains a newline or control character');
  if (value.includes('${')) throw new IpxeScriptError(field, 'contains "${", which iPXE would expand');
  const special = value.split(' ').find(isIpxeSpecialWord);
  if (special !== undefined)
    throw new IpxeScriptError(
      field,
      `contains the word "${special.slice(0, 20)}", which iPXE reads as a command separator or a comment`,
    );
  if (value.endsWith('\\')) throw new IpxeScriptError(field, 'ends with "\\", which iPXE reads as a line continuation');
  return value;
}

/** Returns `value` when it is one http(s) URL that iPXE reads as one literal word; throws IpxeScriptError otherwise. */
export function ipxeUrl(field: string, value: string): string {
  if (!/^https?:\/\/[^\s]+$/.test(value)) throw new IpxeScriptError(field, 'is not a single http:// or https:// URL');
  return ipxeArgs(field, value);
}

/** Returns `value` when it is a plain name (letters, digits, `.`, `_`, `-`, not starting with `-`); throws IpxeScriptError otherwise. */
export function ipxeName(field: string, value: string): string {
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}$/.test(value))
    throw new IpxeScriptError(field, 'must be letters, digits, ".", "_" or "-" (at most 64, not starting with "-")');
  return value;
}

/** What to boot: a kernel with its initrds and command line. Initrd names are what the kernel sees (UEFI needs `initrd=<name>`). */
export interface IpxeKernelBoot {
  kernel: string;
  initrds: Array<{ url: string; name: string }>;
  cmdline: string;
}

/**
 * Options shared by every script: the retry URL (this script's own URL) and the delay before retrying, in seconds.
 * `alternates`: the same script at the other controllers of the store, tried in order when `url` does not answer.
 */
export interface IpxeRetry {
  url: string;
  delaySeconds: number;
  alternates?: readonly string[];
}

/** `chain --replace --autofree <url>` for each URL (checked by the caller), joined by `||`: the first that answers runs. */
const chainAny = (urls: readonly string[]): string => urls.map((u) => `chain --replace --autofree ${u}`).join(' || ');

/** A whole number of seconds for `sleep` (1 at least). */
const seconds = (n: number): string => String(Number.isFinite(n) ? Math.max(1, Math.trunc(n)) : 10);

function retryBlock(r: IpxeRetry, what: string): string[] {
  return [
    ':failed',
    `echo Kiln: ${ipxeText(what)} failed; retrying in ${seconds(r.delaySeconds)} s`,
    `sleep ${seconds(r.delaySeconds)}`,
    `${chainAny([r.url, ...(r.alternates ?? [])].map((u) => ipxeUrl('retry url', u)))} || goto failed`,
  ];
}

/**
 * A script that boots a kernel; any failing step echoes, waits and retries (never a silent hang). Throws
 * IpxeScriptError for a value that is not literal words. Several boots (the same image at each controller of the
 * store, in order): when one fails to load or boot, the images loaded so far are freed and the next is tried; the
 * retry block follows the last.
 */
export function formatKernelScript(
  title: string,
  boot: IpxeKernelBoot | readonly IpxeKernelBoot[],
  retry: IpxeRetry,
): string {
  const boots = Array.isArray(boot) ? (boot as readonly IpxeKernelBoot[]) : [boot as IpxeKernelBoot];
  const lines = ['#!ipxe', `echo Kiln: ${ipxeText(title)}`];
  boots.forEach((b, n) => {
    const last = n === boots.length - 1;
    const onFail = last ? 'goto failed' : `goto kiln_next_${n + 1}`;
    if (n > 0)
      lines.push(
        `:kiln_next_${n}`,
        `echo Kiln: loading from controller ${n} of ${boots.length} failed; trying controller ${n + 1}`,
        'imgfree',
      );
    lines.push(...kernelLines(b, onFail));
  });
  return [...lines, ...retryBlock(retry, 'booting the kernel'), ''].join('\n');
}

/** kernel, initrds and boot, each followed by `|| <onFail>`. */
function kernelLines(boot: IpxeKernelBoot, onFail: string): string[] {
  const initrds = boot.initrds.map((i) => ({ name: ipxeName('initrd name', i.name), url: ipxeUrl('initrd', i.url) }));
  // UEFI's EFI stub finds initrds only by the names on the command line
  // (`initrd=<name>`); BIOS kernels ignore the argument, so always add it.
  const names = initrds.map((i) => `initrd=${i.name}`).join(' ');
  const cmdline = [names, ipxeArgs('cmdline', boot.cmdline)].filter(Boolean).join(' ');
  return [
    `kernel ${ipxeUrl('kernel', boot.kernel)} ${cmdline} || ${onFail}`,
    ...initrds.map((i) => `initrd --name ${i.name} ${i.url} || ${onFail}`),
    `boot || ${onFail}`,
  ];
}

/**
 * A script that leaves network boot for the local disk. Legacy BIOS:
 * `sanboot --no-describe --drive 0x80` boots the first hard disk; UEFI:
 * `exit 1` returns a failure to the firmware boot manager, which tries the next entry.
 */
export function formatLocalBootScript(title: string, platform: 'pcbios' | 'efi'): string {
  return [
    '#!ipxe',
    `echo Kiln: ${ipxeText(title)}`,
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

/** A script that says why nothing can boot now, then waits and asks again. `reason` is any text (encoded by `ipxeText`). */
export function formatWaitScript(reason: string, retry: IpxeRetry): string {
  return [
    '#!ipxe',
    `echo Kiln: ${ipxeText(reason)}`,
    'goto failed',
    ...retryBlock(retry, 'nothing to boot yet'),
    '',
  ].join('\n');
}

/**
 * The first script every iPXE client gets: chain to its own per-host script (iPXE percent-encodes the values).
 * Several URLs (the per-host script at each controller of the store, this one's first): the first that answers runs.
 */
export function formatChainScript(hostScriptUrl: string | readonly string[], retryDelaySeconds: number): string {
  // The only `${…}` Kiln writes: iPXE's own settings, expanded on the machine itself.
  const query = '?mac=${net0/mac}&uuid=${uuid}&arch=${buildarch}&platform=${platform}';
  const urls = (typeof hostScriptUrl === 'string' ? [hostScriptUrl] : hostScriptUrl).map(
    (u) => `${ipxeUrl('host script url', u)}${query}`,
  );
  return [
    '#!ipxe',
    ':retry',
    `${chainAny(urls)} || goto failed`,
    ':failed',
    `echo Kiln: fetching this machine's boot script failed; retrying in ${seconds(retryDelaySeconds)} s`,
    `sleep ${seconds(retryDelaySeconds)}`,
    'goto retry',
    '',
  ].join('\n');
}
