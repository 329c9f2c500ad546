/**
 * The data every template sees. The lead's deploy path builds it once per
 * render; templates read it and never change it. Every field is required:
 * with `strictVariables` a missing key is a template_error, so absent optional
 * data is an empty string, empty array or empty object, never `undefined`.
 */
export interface RenderContext {
  host: HostContext;
  /** Built by `profileContext()`: profile identity plus resolved variables. */
  profile: ProfileContext;
  /** Operator data of the host's group; free-form, not checked statically. */
  group: Record<string, unknown>;
  site: SiteContext;
  kiln: KilnContext;
  boot: BootContext;
}

/**
 * The boot that fetches the rendered file. `session` is its boot session id
 * (12 hex characters, docs/timeline.md): rendered as a placeholder and put in
 * when the file or boot script is served, '' when Kiln knows no session then.
 */
export interface BootContext {
  session: string;
}

/** The host being rendered for. `ip` is '' when the host has no static address. */
export interface HostContext {
  id: string;
  name: string;
  hostname: string;
  fqdn: string;
  /** Lower-case, colon-separated MACs; `bootMac` is one of them. */
  macs: string[];
  bootMac: string;
  ip: string;
  tags: string[];
  labels: Record<string, string>;
  facts: Record<string, unknown>;
  firmware: 'bios' | 'uefi';
}

/** `name`, `os`, `arch`, `installMethod` plus every declared profile variable. */
export interface ProfileContext {
  name: string;
  os: { family: string; version: string };
  arch: string;
  installMethod: string;
  [variable: string]: unknown;
}

/** Site-wide settings. `ntp` and `dns` may be empty arrays. */
export interface SiteContext {
  domain: string;
  timezone: string;
  ntp: string[];
  dns: string[];
  [key: string]: unknown;
}

/**
 * Where the node reaches Kiln. `baseUrl` is plain HTTP (firmware and installer
 * fetches); `apiUrl` is the HTTPS API; `filesUrl` is this host's install-file
 * directory for callers with a node credential (no trailing slash, file names
 * appended as `/<name>`); `installFilesUrl` is the same directory under plain
 * HTTP with the deployment's URL token in the path, for installers that cannot
 * send a header; `caPem` is Kiln's CA certificate in PEM ('' means trust the
 * system store); `syslog` is Kiln's syslog receiver for installers to log to
 * (`host` is '' when the receiver is off); `repoUrl` is Kiln's repo subset
 * as apt and debian-installer name a mirror (`kiln repo sync`, docs/repo.md),
 * `repoHost` and `repoDirectory` the same split as d-i's mirror questions
 * ask, `repoKeyUrl` the armored public key its Release is signed with.
 */
export interface KilnContext {
  baseUrl: string;
  apiUrl: string;
  filesUrl: string;
  installFilesUrl: string;
  caPem: string;
  syslog: { host: string; port: number };
  repoUrl: string;
  repoHost: string;
  repoDirectory: string;
  repoKeyUrl: string;
  nodeApi: { enrol: string; secrets: string; progress: string; complete: string; sshCert: string; agent: string };
}

/**
 * The context keys that templates may use without the profile declaring them:
 * top-level name → allowed second-level names (`null` = any name is allowed).
 * Used by the static variable check at load time.
 */
export const knownContextKeys: Readonly<Record<string, ReadonlySet<string> | null>> = {
  host: new Set(['id', 'name', 'hostname', 'fqdn', 'macs', 'bootMac', 'ip', 'tags', 'labels', 'facts', 'firmware']),
  profile: new Set(['name', 'os', 'arch', 'installMethod']),
  group: null,
  site: new Set(['domain', 'timezone', 'ntp', 'dns']),
  kiln: new Set([
    'baseUrl',
    'apiUrl',
    'filesUrl',
    'installFilesUrl',
    'caPem',
    'syslog',
    'repoUrl',
    'repoHost',
    'repoDirectory',
    'repoKeyUrl',
    'nodeApi',
  ]),
  boot: new Set(['session']),
};
