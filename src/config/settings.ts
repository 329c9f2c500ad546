import { checkAllowList, checkCidrList, discoveryModes } from '../boot/discovery-policy.js';

/**
 * Every top-level setting of `kiln serve`: its type, default and help. The
 * flag is `--<name>`, the environment variable `KILN_<NAME>` with dashes as
 * underscores, the YAML key `<name>`. Secret settings have no flag: they come
 * from the environment or a file only.
 */
export interface SettingSpec {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'enum';
  values?: readonly string[];
  default: string | number | boolean | undefined;
  help: string;
  secret?: boolean;
  min?: number;
  max?: number;
  /** Extra check on a string value; returns the problem or null. */
  check?: (v: string) => string | null;
  /** A file or directory path: resolved against the working directory once, at load (an empty value stays unset). */
  path?: boolean;
}

const hostPort = (v: string): string | null =>
  v === ''
    ? null
    : /^(\[[0-9a-f:]+\]|[^:\s]+):\d{1,5}$/i.test(v) && Number(v.split(':').pop()) < 65536
      ? null
      : 'expected HOST:PORT such as 0.0.0.0:8080';
const httpUrl = (v: string): string | null =>
  /^https?:\/\/[^\s/]+(\/\S*)?$/.test(v) ? null : 'expected an http:// or https:// URL such as http://10.0.0.1:8080';
const pgUrl = (v: string): string | null =>
  /^postgres(ql)?:\/\/\S+$/.test(v) ? null : 'expected a postgres:// URL such as postgres://kiln@db.example:5432/kiln';

export const settings: readonly SettingSpec[] = [
  {
    name: 'data-dir',
    type: 'string',
    path: true,
    default: './kiln-data',
    help: 'Directory for the SQLite store, keys, tokens and caches (created 0700).',
  },
  {
    name: 'database-url',
    type: 'string',
    default: undefined,
    check: pgUrl,
    help: 'PostgreSQL URL for a shared store (several controllers); empty = embedded SQLite in data-dir. Put the password in PGPASSWORD or ~/.pgpass, not the URL.',
  },
  {
    name: 'listen',
    type: 'string',
    default: '0.0.0.0:8080',
    check: hostPort,
    help: 'HTTP listen address for the API and boot files.',
  },
  {
    name: 'public-url',
    type: 'string',
    default: undefined,
    check: httpUrl,
    help: 'URL nodes and firmware use to reach this controller (default: http://<first non-loopback IPv4>:<listen port>).',
  },
  {
    name: 'log-level',
    type: 'enum',
    values: ['debug', 'info', 'warn', 'error'],
    default: 'info',
    help: 'Minimum log level.',
  },
  {
    name: 'profiles-dir',
    type: 'string',
    path: true,
    default: './profiles',
    help: 'Directory of profile directories (profiles/<name>/profile.yaml).',
  },
  {
    name: 'ipxe-dir',
    type: 'string',
    path: true,
    default: '/usr/lib/ipxe',
    help: "Directory holding Debian's iPXE binaries (undionly.kpxe, ipxe.efi, snp.efi).",
  },
  {
    name: 'http-cache-mib',
    type: 'integer',
    default: 256,
    min: 0,
    max: 65536,
    help: 'Memory, in MiB, for whole boot files (kernels, initrds, iPXE binaries) served by plain GETs; least recently used out first, checked against the file on every request; 0 streams every request from disk.',
  },
  {
    name: 'admin-token-file',
    type: 'string',
    path: true,
    default: undefined,
    help: 'Where the first admin token is written on first start (default: <data-dir>/admin-token, mode 0600).',
  },
  {
    name: 'body-limit',
    type: 'integer',
    default: 1048576,
    min: 1024,
    max: 1073741824,
    help: 'Largest accepted API request body, in bytes.',
  },
  {
    name: 'tls-listen',
    type: 'string',
    default: '0.0.0.0:8443',
    check: hostPort,
    help: "HTTPS listen address for the API (certificate from Kiln's CA in data-dir/tls, or tls-cert-file/tls-key-file); empty string disables it.",
  },
  {
    name: 'tls-cert-file',
    type: 'string',
    path: true,
    default: undefined,
    help: "Operator-supplied PEM certificate for the HTTPS API (with tls-key-file); default: issued by Kiln's own CA.",
  },
  {
    name: 'tls-key-file',
    type: 'string',
    path: true,
    default: undefined,
    help: 'Operator-supplied PEM private key for the HTTPS API.',
  },
  {
    name: 'node-image',
    type: 'enum',
    values: ['auto', 'off'],
    default: 'auto',
    help: 'auto: build (or reuse) the discovery/installer image from Debian packages in the background at start; off: do not.',
  },
  {
    name: 'node-image-args',
    type: 'string',
    default: 'console=tty0 console=ttyS0,115200',
    help: "Extra kernel arguments for Kiln's node image (discovery, image writer, wipe).",
  },
  {
    name: 'discovery',
    type: 'enum',
    values: discoveryModes,
    default: 'auto',
    help: 'Which unknown MACs that network-boot become hosts: auto (every one), allow-list (only those matching discovery-allow), off (none: unknown MACs get no DHCP reply, no script, no enrolment).',
  },
  {
    name: 'discovery-allow',
    type: 'string',
    default: undefined,
    check: checkAllowList,
    help: 'For discovery allow-list: MACs, OUIs (first three octets) and subnets (CIDR) whose unknown machines may become hosts, separated by commas.',
  },
  {
    name: 'discovery-limit',
    type: 'integer',
    default: 1000,
    min: 1,
    max: 1000000,
    help: 'Unknown MACs that may become hosts per subnet per minute; past it they are refused (and retry) until the next minute.',
  },
  {
    name: 'boot-source-ranges',
    type: 'string',
    default: undefined,
    check: checkCidrList,
    help: 'CIDRs (NAT relays, HTTP proxies) from which per-host boot scripts and enrolments are answered without a Kiln lease on the source address, separated by commas.',
  },
  {
    name: 'node-rate-limit',
    type: 'integer',
    default: 20,
    min: 1,
    max: 100000,
    help: 'Failed node-credential attempts allowed per source address per minute.',
  },
  {
    name: 'power-poll-interval',
    type: 'integer',
    default: 300,
    min: 0,
    max: 86400,
    help: 'Seconds between power-state polls of every host with a BMC (drift is recorded as a power.drift event); 0 disables polling.',
  },
  {
    name: 'power-timeout',
    type: 'integer',
    default: 60,
    min: 1,
    max: 3600,
    help: 'Hard limit, in seconds, on one BMC operation (power, boot device, status, enlistment); past it the call fails with bmc_timeout.',
  },
  {
    name: 'template-timeout-ms',
    type: 'integer',
    default: 2000,
    min: 100,
    max: 600000,
    help: "Wall-clock limit, in ms, on rendering one deploy's templates; past it (plus 250 ms) the render worker is killed and the deploy fails with template_error.",
  },
  {
    name: 'template-max-output-kib',
    type: 'integer',
    default: 4096,
    min: 16,
    max: 1048576,
    help: "Most text, in KiB, one deploy's templates may render (all install files together); past it the render stops with template_error.",
  },
  {
    name: 'power-libvirt-test-driver',
    type: 'boolean',
    default: false,
    help: "Development and tests only: accept the libvirt BMC address test:///default (virsh's built-in test driver). No other test: URI is ever accepted.",
  },
  {
    name: 'power-max-concurrent',
    type: 'integer',
    default: 20,
    min: 1,
    max: 1000,
    help: 'BMC operations in flight at once on this controller (polls, API calls and batch power-ons share it).',
  },
];

/** The environment variable for a setting: `--data-dir` ↔ `KILN_DATA_DIR`. */
export function envName(setting: string): string {
  return `KILN_${setting.toUpperCase().replace(/-/g, '_')}`;
}
