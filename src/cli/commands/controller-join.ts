// `kiln controller join-token` (on a member) and `kiln controller join` (on the
// machine that joins, before its first `kiln serve`): docs/cluster.md "Joining".
//
// The join, on the joining machine: the token pins the member's TLS CA; the CA
// bundle is fetched without sending anything secret and the pinned CA picked
// out of it; every later request verifies the member's certificate against
// that CA alone (name included). The joiner makes its own SSH CA and TLS CA in
// its data dir and an X25519 key pair in memory, sends the public halves with
// the admin token and the join token, and stores the data key it gets back
// wrapped to that key pair. No private key leaves either machine.
import type { Command } from '@commander-js/extra-typings';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { caPinOf, parseJoinToken } from '../../cluster/join-token.js';
import { KilnError } from '../../error/kiln-error.js';
import { createPrivateFile } from '../../trust/key-file.js';
import { createWrapKeyPair, unwrapKey, type WrappedKey } from '../../trust/credential/key-wrap.js';
import { dataKeyFile } from '../../trust/credential/secret-box.js';
import { loadOrCreateSshCa } from '../../trust/ssh/ssh-ca.js';
import { loadOrCreateTlsCa } from '../../trust/tls/tls-ca.js';
import { ApiError, type ApiClient } from '../api-client.js';
import { emit, type Output } from '../output.js';
import { formatTable } from '../table.js';

interface MemberCaJson {
  name: string;
  sshFingerprint: string;
  tlsCaFingerprint: string;
  addedBy: string;
  self: boolean;
}

/** The certificates of a PEM bundle, in order. */
export function pemCertificates(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
}

/** The certificate of `bundle` whose SHA-256 is `pin` (hex), and which is a CA; undefined when none is. */
export function pinnedCa(bundle: string, pin: string): string | undefined {
  return pemCertificates(bundle).find((pem) => {
    try {
      return caPinOf(pem) === pin && new X509Certificate(pem).ca;
    } catch {
      return false;
    }
  });
}

async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; dispatcher: Dispatcher },
): Promise<{ status: number; text: string }> {
  try {
    const res = await undiciFetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ApiError(
      'unreachable',
      `cannot reach ${url} (${cause?.code ?? cause?.message ?? (err as Error).message}); check --from (the member's tls-listen URL)`,
      0,
    );
  }
}

/** Joins the store of the member at `from`; writes the CAs and data.key into `dataDir`. Returns the members' CAs. */
export async function joinController(o: {
  from: string;
  dataDir: string;
  joinToken: string;
  adminToken: string;
  name: string;
}): Promise<{ members: MemberCaJson[]; sshFingerprint: string; tlsCaPin: string; dataKeyPath: string }> {
  const token = parseJoinToken(o.joinToken);
  let origin: string;
  try {
    const u = new URL(o.from);
    if (u.protocol !== 'https:') throw new Error('not https');
    origin = u.origin;
  } catch {
    throw new KilnError(
      'validation_failed',
      `--from must be the member's HTTPS URL (its tls-listen), e.g. https://10.0.0.1:8443; got ${JSON.stringify(o.from.slice(0, 100))}`,
    );
  }
  const dataKeyPath = join(o.dataDir, dataKeyFile);
  if (existsSync(dataKeyPath))
    throw new KilnError(
      'conflict',
      `${dataKeyPath} exists: this data dir already belongs to a controller; join with a new, empty data dir (--data-dir)`,
    );
  // 1. The pinned CA, from the bundle every member serves publicly; nothing secret is sent on this connection.
  const unverified = new Agent({ connect: { rejectUnauthorized: false } });
  let caPem: string | undefined;
  try {
    const bundle = await call(`${origin}/api/v1/controllers/ca-bundle`, { dispatcher: unverified });
    caPem = bundle.status === 200 ? pinnedCa(bundle.text, token.caPin) : undefined;
  } finally {
    await unverified.close();
  }
  if (!caPem)
    throw new ApiError(
      'tls_pin_mismatch',
      `${origin} does not serve the TLS CA the join token pins (sha256 ${token.caPin}): give --from the URL of the member that made the token (or something in between is not that member)`,
      0,
    );
  // 2. From here on the member's certificate must chain to that CA and name the host in --from.
  const pinned = new Agent({ connect: { ca: caPem } });
  try {
    mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
    const sshCa = await loadOrCreateSshCa(join(o.dataDir, 'ssh'));
    const tlsCa = await loadOrCreateTlsCa(join(o.dataDir, 'tls'));
    const pair = createWrapKeyPair();
    const res = await call(`${origin}/api/v1/controllers/join`, {
      method: 'POST',
      dispatcher: pinned,
      headers: {
        authorization: `Bearer ${o.adminToken}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify({
        token: o.joinToken.trim(),
        name: o.name,
        sshCaPublicKey: sshCa.publicKeyLine,
        tlsCaPem: tlsCa.certPem,
        wrapPublicKey: pair.publicKey,
      }),
    });
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      json = undefined;
    }
    if (res.status !== 200) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(
        e?.code ?? 'failed',
        e?.message ?? `HTTP ${res.status}: ${res.text.slice(0, 200)}`,
        res.status,
      );
    }
    const reply = json as { wrapped: WrappedKey; members: MemberCaJson[] };
    // The context is this token's, whatever the reply says.
    const key = unwrapKey(reply.wrapped, pair, `join:${token.id}`);
    if (key.length !== 32) throw new KilnError('validation_failed', `the data key has ${key.length} bytes, not 32`);
    if (!(await createPrivateFile(dataKeyPath, key)))
      throw new KilnError('conflict', `${dataKeyPath} appeared while joining; it was left as it was`);
    return { members: reply.members, sshFingerprint: sshCa.fingerprint, tlsCaPin: caPinOf(tlsCa.certPem), dataKeyPath };
  } finally {
    await pinned.close();
  }
}

/** `kiln controller join-token` and `kiln controller join`, under `kiln controller`. */
export function registerJoinCommands(
  controller: Command,
  deps: {
    api: () => ApiClient;
    o: Output;
    env: Record<string, string | undefined>;
    /** The API token given with --token or KILN_TOKEN (not the local data dir's admin-token: that is the joiner's). */
    token: () => string | undefined;
  },
): void {
  const { o, env } = deps;
  controller
    .command('join-token')
    .description('make a one-time token that lets one controller join this store (admin; shown once)')
    .option('--ttl-minutes <n>', 'minutes until it expires (1–1440)', '15')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const res = await deps
        .api()
        .post<{ token: string; id: string; expiresAt: string }>('/api/v1/controllers/join-tokens', {
          ttlMinutes: Number(opts.ttlMinutes),
        });
      emit(o, opts.json, res, () =>
        [
          res.token,
          `(one use, until ${res.expiresAt}; on the new controller: KILN_JOIN_TOKEN=<token> KILN_TOKEN=<admin token> kiln controller join --from <this controller's https URL> --data-dir <empty dir>)`,
        ].join('\n'),
      );
    });
  controller
    .command('join')
    .description(
      "join the store of an existing controller: make this machine's own SSH and TLS CAs in --data-dir and receive the data key wrapped to a one-time key (the join token from KILN_JOIN_TOKEN or --join-token-file, an admin token from --token or KILN_TOKEN)",
    )
    .requiredOption('--from <url>', "the existing controller's HTTPS URL (tls-listen), e.g. https://10.0.0.1:8443")
    .option(
      '--data-dir <dir>',
      "the new controller's data dir (or KILN_DATA_DIR; default ./kiln-data); must hold no data.key",
    )
    .option('--name <name>', "this controller's name until it starts (default: the host name)")
    .option('--join-token-file <file>', 'file holding the join token (else KILN_JOIN_TOKEN)')
    .option('--json', 'print JSON')
    .action(async (opts) => {
      const joinToken = opts.joinTokenFile ? readFileSync(opts.joinTokenFile, 'utf8') : env['KILN_JOIN_TOKEN'];
      if (!joinToken)
        throw new KilnError(
          'validation_failed',
          'give the join token in KILN_JOIN_TOKEN or --join-token-file (`kiln controller join-token` on a member makes one)',
        );
      const adminToken = deps.token();
      if (!adminToken)
        throw new KilnError(
          'validation_failed',
          'give an admin token of the existing controller in KILN_TOKEN (or --token)',
        );
      const dataDir = resolve(opts.dataDir ?? env['KILN_DATA_DIR'] ?? './kiln-data');
      const r = await joinController({
        from: opts.from,
        dataDir,
        joinToken,
        adminToken,
        name: opts.name ?? hostname(),
      });
      emit(o, opts.json, r, () =>
        [
          `joined: the data key is in ${r.dataKeyPath}; this controller's SSH CA ${r.sshFingerprint}, TLS CA sha256 ${r.tlsCaPin}`,
          formatTable(
            ['MEMBER', 'SSH CA', 'TLS CA (sha256)', 'ADDED BY'],
            r.members.map((m) => [m.name, m.sshFingerprint, `${m.tlsCaFingerprint.slice(0, 16)}…`, m.addedBy]),
          ),
          `now start it on the same store: kiln serve --data-dir ${dataDir} --database-url <the store's URL>`,
        ].join('\n'),
      );
    });
}
