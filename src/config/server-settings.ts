import { Type } from '@sinclair/typebox';

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

/**
 * The controller's own top-level settings: store, listeners, TLS, logging,
 * API limits. Keyword meanings (`path`, `check`, `secret`) are in settings.ts.
 */
export const ServerSettingsSchema = Type.Object({
  'data-dir': Type.String({
    path: true,
    default: './kiln-data',
    description: 'Directory for the SQLite store, keys, tokens and caches (created 0700).',
  }),
  'database-url': Type.Optional(
    Type.String({
      check: pgUrl,
      description:
        'PostgreSQL URL for a shared store (several controllers); empty = embedded SQLite in data-dir. Put the password in PGPASSWORD or ~/.pgpass, not the URL.',
    }),
  ),
  listen: Type.String({
    default: '0.0.0.0:8080',
    check: hostPort,
    description: 'HTTP listen address for the API and boot files.',
  }),
  'public-url': Type.Optional(
    Type.String({
      check: httpUrl,
      description:
        'URL nodes and firmware use to reach this controller (default: http://<first non-loopback IPv4>:<listen port>).',
    }),
  ),
  'log-level': Type.Unsafe<'debug' | 'info' | 'warn' | 'error'>(
    Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')], {
      default: 'info',
      description: 'Minimum log level.',
    }),
  ),
  'log-requests': Type.Unsafe<'all' | 'changes'>(
    Type.Union([Type.Literal('all'), Type.Literal('changes')], {
      default: 'changes',
      description:
        'API access log at info, one line per request: all, or changes (every request but a successful GET or HEAD, which is logged at debug).',
    }),
  ),
  'profiles-dir': Type.String({
    path: true,
    default: './profiles',
    description: 'Directory of profile directories (profiles/<name>/profile.yaml).',
  }),
  'admin-token-file': Type.Optional(
    Type.String({
      path: true,
      description:
        'Where the first admin token is written on first start (default: <data-dir>/admin-token, mode 0600).',
    }),
  ),
  'body-limit': Type.Integer({
    default: 1048576,
    minimum: 1024,
    maximum: 1073741824,
    description: 'Largest accepted API request body, in bytes.',
  }),
  'tls-listen': Type.String({
    default: '0.0.0.0:8443',
    check: hostPort,
    description:
      "HTTPS listen address for the API (certificate from Kiln's CA in data-dir/tls, or tls-cert-file/tls-key-file); empty string disables it.",
  }),
  'tang-listen': Type.String({
    default: '',
    check: hostPort,
    description:
      "Address of Kiln's Tang server (Debian's tangd, one per connection) for LUKS volumes that Clevis unlocks at boot (storage.encrypted); empty string (the default) = off.",
  }),
  'tls-cert-file': Type.Optional(
    Type.String({
      path: true,
      description:
        "Operator-supplied PEM certificate for the HTTPS API (with tls-key-file); default: issued by Kiln's own CA.",
    }),
  ),
  'tls-key-file': Type.Optional(
    Type.String({ path: true, description: 'Operator-supplied PEM private key for the HTTPS API.' }),
  ),
  'node-rate-limit': Type.Integer({
    default: 20,
    minimum: 1,
    maximum: 100000,
    description: 'Failed node-credential attempts allowed per source address per minute.',
  }),
});
