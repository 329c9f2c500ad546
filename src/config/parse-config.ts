import { networkInterfaces } from 'node:os';
import { Value, type ValueError } from '@sinclair/typebox/value';
import type { TObject } from '@sinclair/typebox';
import type { DhcpConfig } from '../boot/dhcp/dhcp-config.js';
import type { TftpConfig } from '../boot/tftp/tftp-config.js';
import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import type { SiteConfig } from '../template/site-config.js';
import { syslogConfigIssues, type SyslogConfig } from '../syslog/syslog-config.js';
import type { TimelineConfig } from '../timeline/timeline-config.js';
import type { HeartbeatConfig } from '../heartbeat/heartbeat-config.js';
import { doctorConfigIssues, type DoctorConfig } from '../doctor/doctor-config.js';
import type { ClusterConfig } from '../cluster/cluster-config.js';
import { checkExecHooks, type HookConfig } from '../hook/hook-config.js';
import { configSections, configSettingGroups, type SettingGroups } from './config-schema.js';
import { loadConfig, type Config, type ConfigInput } from './load.js';
import { unknownKeys } from './unknown-keys.js';

/** Where the controller is reached, derived once from `listen`, `public-url` and `tls-listen`. */
export interface ServerUrls {
  /** The HTTP listener (`listen`), brackets of an IPv6 host removed. */
  http: { host: string; port: number };
  /** The HTTPS listener, or null when `tls-listen` is the empty string (off). */
  https: { host: string; port: number } | null;
  /** The host nodes call: `listen`'s host, or this machine's first IPv4 when `listen` binds every address. */
  publicHost: string;
  /** Plain-HTTP URL for firmware and installers (`public-url`, default `http://<publicHost>:<port>`), no trailing slash. */
  baseUrl: string;
  /** The API URL nodes verify: HTTPS on baseUrl's host when `tls-listen` is on, else baseUrl. */
  apiUrl: string;
}

/**
 * The whole validated configuration of `kiln serve`, deep-frozen: one typed
 * slice per settings group and per section (defaults filled in, paths
 * absolute), plus the URLs derived from them. `main` reads only this.
 */
export interface KilnConfig extends SettingGroups {
  dhcp: DhcpConfig;
  tftp: TftpConfig;
  site: SiteConfig;
  syslog: SyslogConfig;
  timeline: TimelineConfig;
  hooks: HookConfig;
  heartbeat: HeartbeatConfig;
  doctor: DoctorConfig;
  cluster: ClusterConfig;
  urls: ServerUrls;
}

/** HOST:PORT (already checked by the loader) as host and port; `[::1]:80` gives `::1`. */
export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** The first non-internal IPv4 address of this machine, for the default public URL. */
export function firstIpv4(): string {
  const a = Object.values(networkInterfaces())
    .flat()
    .find((x) => x && x.family === 'IPv4' && !x.internal);
  return a?.address ?? '127.0.0.1';
}

function urlsOf(server: SettingGroups['server'], hostAddress: () => string): ServerUrls {
  const http = splitHostPort(server.listen);
  const publicHost = http.host === '0.0.0.0' || http.host === '::' ? hostAddress() : http.host;
  const baseUrl = server['public-url'] ?? `http://${publicHost}:${http.port}`;
  const https = server['tls-listen'] ? splitHostPort(server['tls-listen']) : null;
  return {
    http,
    https,
    publicHost,
    baseUrl,
    apiUrl: https ? `https://${new URL(baseUrl).hostname}:${https.port}` : baseUrl,
  };
}

/** The top-level settings of one group, from the loader's values (already coerced and checked). */
function groupOf(group: TObject, values: Config['values']): unknown {
  return Object.fromEntries(
    Object.keys(group.properties).flatMap((k) => (values[k] === undefined ? [] : [[k, values[k]]])),
  );
}

/** A schema error in words; a choice among words (a subnet's `mode`) lists them instead of "Expected union value". */
function describe(e: ValueError): string {
  const choices = (e.schema as { anyOf?: Array<{ const?: unknown }> }).anyOf?.map((c) => c.const);
  return choices?.length && choices.every((c) => typeof c === 'string')
    ? `expected one of ${choices.join(', ')}, got ${JSON.stringify(e.value)}`
    : e.message;
}

/**
 * One nested section: unknown keys, then the schema (defaults from the
 * schema, then `defaults`, then the file). Every problem is an issue naming
 * `name.key` and where to read about it.
 */
function parseSection(
  name: keyof typeof configSections,
  raw: unknown,
  defaults: Record<string, unknown>,
): { value: unknown; issues: ErrorIssue[] } {
  const { schema, doc } = configSections[name];
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw)))
    return {
      value: undefined,
      issues: [{ path: name, code: 'bad_value', message: `${name}: expected a mapping of key: value (see ${doc})` }],
    };
  const given = (raw ?? {}) as Record<string, unknown>;
  const unknown = unknownKeys(schema, given, {
    path: name,
    deep: true,
    hint: (at, known) => `the keys of ${at} are ${known.join(', ')} (see ${doc})`,
  });
  const value = Value.Default(schema, Value.Clone({ ...defaults, ...given }));
  const bad = [...Value.Errors(schema, value)].map((e) => {
    const path = `${name}${e.path.replace(/\//g, '.')}`;
    return { path, code: 'bad_value', message: `${path}: ${describe(e)} (see ${doc})` };
  });
  return { value, issues: [...unknown, ...bad] };
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/**
 * The second stage: every section validated against its schema, every
 * setting group typed, the URLs derived, and cross-setting rules checked.
 * Throws one `config_invalid` error listing every problem; nothing has been
 * opened or created yet when it does.
 */
export function parseConfig(raw: Config, opts: { hostAddress?: () => string } = {}): KilnConfig {
  const values = raw.values;
  const groups = Object.fromEntries(
    Object.entries(configSettingGroups).map(([k, g]) => [k, groupOf(g, values)]),
  ) as SettingGroups;
  const issues: ErrorIssue[] = [];
  if (!groups.server['tls-cert-file'] !== !groups.server['tls-key-file'])
    issues.push({
      path: 'tls-cert-file',
      code: 'bad_value',
      message: 'set both tls-cert-file and tls-key-file, or neither',
    });
  const urls = urlsOf(groups.server, opts.hostAddress ?? firstIpv4);
  const dhcp = parseSection('dhcp', raw.sections['dhcp'], { serverAddress: urls.publicHost, httpBase: urls.baseUrl });
  const enabled = (dhcp.value as { enabled?: unknown } | undefined)?.enabled === true;
  const tftp = parseSection('tftp', raw.sections['tftp'], { enabled, root: groups.boot['ipxe-dir'] });
  const site = parseSection('site', raw.sections['site'], {});
  const syslog = parseSection('syslog', raw.sections['syslog'], {});
  const timeline = parseSection('timeline', raw.sections['timeline'], {});
  const hooks = parseSection('hooks', raw.sections['hooks'], {});
  const heartbeat = parseSection('heartbeat', raw.sections['heartbeat'], {});
  const doctor = parseSection('doctor', raw.sections['doctor'], {});
  const cluster = parseSection('cluster', raw.sections['cluster'], {});
  issues.push(
    ...dhcp.issues,
    ...tftp.issues,
    ...site.issues,
    ...syslog.issues,
    ...timeline.issues,
    ...hooks.issues,
    ...heartbeat.issues,
    ...doctor.issues,
    ...cluster.issues,
  );
  if (!hooks.issues.length) issues.push(...checkExecHooks(hooks.value as HookConfig));
  if (!syslog.issues.length) issues.push(...syslogConfigIssues(syslog.value));
  if (!doctor.issues.length) issues.push(...doctorConfigIssues(doctor.value as DoctorConfig));
  if (issues.length)
    throw new KilnError('config_invalid', `invalid configuration: ${issues.map((i) => i.message).join('; ')}`, {
      issues,
    });
  return deepFreeze({
    ...groups,
    dhcp: dhcp.value as DhcpConfig,
    tftp: tftp.value as TftpConfig,
    site: site.value as SiteConfig,
    syslog: syslog.value as SyslogConfig,
    timeline: timeline.value as TimelineConfig,
    hooks: hooks.value as HookConfig,
    heartbeat: heartbeat.value as HeartbeatConfig,
    doctor: doctor.value as DoctorConfig,
    cluster: cluster.value as ClusterConfig,
    urls,
  });
}

/** Both stages: flags, environment, file and defaults into one validated, typed, frozen config (and the raw view --print-config shows). */
export function readConfig(input: ConfigInput & { hostAddress?: () => string }): { raw: Config; config: KilnConfig } {
  const raw = loadConfig(input);
  return { raw, config: parseConfig(raw, input) };
}
