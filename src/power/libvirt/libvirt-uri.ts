import { KilnError } from '../../error/kiln-error.js';

/**
 * Which libvirt URIs a BMC address may be. The address is operator input
 * that reaches `virsh -c` on the controller, and libvirt's URI is a small
 * program: `+ext` and `?command=` run an executable, `?socket=`,
 * `?keyfile=`, `?known_hosts=`, `?pkipath=` open controller files,
 * `?no_verify=1` turns off TLS checks, `?name=` hands another URI (say
 * `test:///<file>`) to the daemon at the other end, and `test:///<path>`
 * parses any file the controller can read (its parse error quotes the
 * first line). So the rule is an allow-list, checked before any virsh runs:
 *
 * - driver: qemu, xen, lxc, ch, bhyve; `test` only as the built-in
 *   `test:///default`, and only when the controller's development setting
 *   `power-libvirt-test-driver` is on (tests use it);
 * - transport: none, unix, ssh, libssh, libssh2, tls, tcp (never ext);
 * - user, host, port: plain names, never starting with `-` (ssh would read
 *   `-oProxyCommand=…` as an option);
 * - path: `/system` or `/session` (no `/embed?root=`);
 * - parameters: `no_tty` (0 or 1) and `sshauth` (agent, privkey) only;
 *   no percent-encoding anywhere (libvirt decodes `%63ommand=`).
 *
 * Every refusal is `validation_failed` at `/bmc/address` with a stable
 * issue code (`libvirt_uri_syntax`, `libvirt_driver_refused`,
 * `libvirt_transport_refused`, `libvirt_host_refused`,
 * `libvirt_path_refused`, `libvirt_parameter_refused`).
 */
export interface LibvirtUriPolicy {
  /** Allow `test:///default` (virsh's built-in test driver): the `power-libvirt-test-driver` setting. */
  allowTestDriver?: boolean;
}

/** A libvirt URI that passed the policy, split into its parts. */
export interface LibvirtUri {
  uri: string;
  driver: string;
  transport: string | undefined;
  host: string;
}

export type LibvirtUriIssue =
  | 'libvirt_uri_syntax'
  | 'libvirt_driver_refused'
  | 'libvirt_transport_refused'
  | 'libvirt_host_refused'
  | 'libvirt_path_refused'
  | 'libvirt_parameter_refused';

const drivers = new Set(['qemu', 'xen', 'lxc', 'ch', 'bhyve']);
const transports = new Set(['unix', 'ssh', 'libssh', 'libssh2', 'tls', 'tcp']);
const paths = new Set(['/system', '/session']);
const userPattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;
const hostPattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\[[0-9A-Fa-f:.]{2,45}\]$/;
const sshAuth = new Set(['agent', 'privkey']);
const params: Record<string, (v: string | undefined) => boolean> = {
  no_tty: (v) => v === '0' || v === '1',
  sshauth: (v) => v !== undefined && v.split(',').every((m) => sshAuth.has(m)),
};

const show = (s: string) => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);

function refuse(code: LibvirtUriIssue, why: string): never {
  throw new KilnError('validation_failed', `libvirt address refused: ${why}`, {
    issues: [{ path: '/bmc/address', code, message: why }],
  });
}

/** Checks a libvirt BMC address against the allow-list above; throws `validation_failed`, never runs anything. */
export function checkLibvirtUri(uri: string, policy: LibvirtUriPolicy = {}): LibvirtUri {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f%#\\]/.test(uri))
    refuse('libvirt_uri_syntax', 'the URI may not contain spaces, control characters, "%", "#" or "\\"');
  const m = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/?]*)(\/[^?]*)?(?:\?(.*))?$/.exec(uri);
  if (!m) refuse('libvirt_uri_syntax', 'expected a libvirt URI such as qemu:///system or qemu+ssh://user@hv1/system');
  const [, driver, transport, authority, path = '', query] = m;
  if (driver === 'test') {
    if (!policy.allowTestDriver)
      refuse(
        'libvirt_driver_refused',
        'the test driver is for development only (controller setting power-libvirt-test-driver)',
      );
    if (uri !== 'test:///default')
      refuse(
        'libvirt_path_refused',
        'only the built-in test:///default is accepted; test:///<file> would read a controller file',
      );
    return { uri, driver, transport: undefined, host: '' };
  }
  if (!drivers.has(driver))
    refuse('libvirt_driver_refused', `driver ${show(driver)} is not one of ${[...drivers].join(', ')}`);
  if (transport !== undefined && !transports.has(transport)) {
    refuse(
      'libvirt_transport_refused',
      `transport ${show(transport)} is not one of ${[...transports].join(', ')} (+ext runs a program)`,
    );
  }
  const a = /^(?:([^@]*)@)?(\[[^\]]*\]|[^:]*)(?::([^:]*))?$/.exec(authority);
  if (!a) refuse('libvirt_host_refused', `cannot read user, host and port from ${show(authority)}`);
  const [, user, host = '', port] = a;
  if (user !== undefined && !userPattern.test(user))
    refuse(
      'libvirt_host_refused',
      `user ${show(user)} must be letters, digits, ".", "_" or "-", not starting with "-"`,
    );
  if (host !== '' && !hostPattern.test(host))
    refuse('libvirt_host_refused', `host ${show(host)} must be a host name or IP address`);
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535))
    refuse('libvirt_host_refused', `port ${show(port)} must be 1 to 65535`);
  if (!paths.has(path)) refuse('libvirt_path_refused', `path ${show(path || '(none)')} must be /system or /session`);
  if (query !== undefined) {
    for (const part of query.split(/[&;]/)) {
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? undefined : part.slice(eq + 1);
      if (!Object.hasOwn(params, name))
        refuse(
          'libvirt_parameter_refused',
          `parameter ${show(name)} is not accepted (only ${Object.keys(params).join(', ')})`,
        );
      if (!params[name](value))
        refuse('libvirt_parameter_refused', `parameter ${name}=${show(value ?? '')} is not accepted`);
    }
  }
  return { uri, driver: driver, transport, host };
}
