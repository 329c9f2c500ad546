/**
 * The mmdebstrap command line of `kiln image build`. Pure: the caller runs
 * it as an argument array (no shell of Kiln's). The hooks are fixed text run
 * by mmdebstrap's own `sh` with the root as `$1`; user input (the overlay
 * directory) goes only into mmdebstrap's `sync-in` special hook, never into
 * shell text.
 */
import { KilnError } from '../../error/kiln-error.js';

/**
 * What every Kiln image holds unless `bare`: a kernel, systemd as init, SSH,
 * systemd-networkd with resolved, and curl: the heartbeat agent's HTTPS client
 * (verified against Kiln's CA). Without curl (or nc) its unit fails every 10 s
 * and the system is `degraded` (seen on a minimal image in the Debian e2e).
 */
export const BASE_PACKAGES = [
  'curl',
  'linux-image-amd64',
  'systemd',
  'systemd-sysv',
  'systemd-resolved',
  'udev',
  'dbus',
  'openssh-server',
  'iproute2',
] as const;

/** Inputs of one build. */
export interface BuildSpec {
  suite: string;
  /** Extra packages on top of the base set. */
  packages: readonly string[];
  /** A directory copied over the root at the end (`sync-in DIR /`). */
  overlay?: string;
  /** mmdebstrap variant. @default 'minbase' */
  variant?: 'minbase' | 'essential';
  /** Leave out BASE_PACKAGES and the networkd hook (small test images). */
  bare?: boolean;
  /** `deb …` lines from debian-sources.ts. */
  mirrors: readonly string[];
  /** Output tarball; its extension picks the compression. */
  output: string;
}

/**
 * Host state removed from every image: SSH host keys (made on the node by the
 * install's late step) and the host's hostname and resolv.conf that
 * mmdebstrap copies in; machine-id is emptied (systemd makes one at first
 * boot). mmdebstrap's own cleanup also empties machine-id and removes logs
 * and caches that differ between runs.
 */
export const HOST_STATE_HOOKS = [
  'rm -f "$1"/etc/ssh/ssh_host_*',
  'rm -f "$1"/etc/hostname',
  'if [ ! -L "$1"/etc/resolv.conf ]; then rm -f "$1"/etc/resolv.conf; fi',
  'if [ -e "$1"/etc/machine-id ]; then : > "$1"/etc/machine-id; fi',
] as const;

/** Networking: systemd-networkd (the image writer writes a networkd unit), enabled in the image; no ifupdown. */
export const NETWORK_HOOK = 'chroot "$1" systemctl enable systemd-networkd.service';

const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;

/** The argument array (without the program name). Throws `validation_failed` on a bad package or overlay name. */
export function mmdebstrapArgs(spec: BuildSpec): string[] {
  if (!/^[a-z][a-z0-9-]*$/.test(spec.suite))
    throw new KilnError('validation_failed', `suite ${JSON.stringify(spec.suite)}: a Debian suite or codename`);
  for (const p of spec.packages)
    if (!PACKAGE.test(p)) throw new KilnError('validation_failed', `package ${JSON.stringify(p)}: not a package name`);
  if (spec.overlay !== undefined && (!spec.overlay.startsWith('/') || /\s/.test(spec.overlay)))
    throw new KilnError(
      'validation_failed',
      `overlay ${JSON.stringify(spec.overlay)}: an absolute path without spaces`,
    );
  const packages = [...new Set([...(spec.bare ? [] : BASE_PACKAGES), ...spec.packages])].sort();
  return [
    `--variant=${spec.variant ?? 'minbase'}`,
    '--architectures=amd64',
    '--format=tar',
    ...(packages.length > 0 ? [`--include=${packages.join(',')}`] : []),
    ...(spec.bare ? [] : [`--customize-hook=${NETWORK_HOOK}`]),
    ...(spec.overlay !== undefined ? [`--customize-hook=sync-in ${spec.overlay} /`] : []),
    ...HOST_STATE_HOOKS.map((h) => `--customize-hook=${h}`),
    spec.suite,
    spec.output,
    ...spec.mirrors,
  ];
}
