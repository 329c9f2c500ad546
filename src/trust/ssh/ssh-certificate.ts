// OpenSSH certificates (PROTOCOL.certkeys), signed by Kiln's Ed25519 CA.
// Layout of every certificate blob, after which the CA signature follows:
//
//   string  "<key type>-cert-v01@openssh.com"
//   string  nonce                 (32 random bytes, CA-chosen)
//   ....    public key fields     (exactly the key blob minus its type string)
//   uint64  serial
//   uint32  type                  (1 user, 2 host)
//   string  key id
//   string  valid principals      (a packed list of strings)
//   uint64  valid after           (seconds since the epoch)
//   uint64  valid before          (0xffffffffffffffff = forever)
//   string  critical options      (packed name/data pairs, sorted by name)
//   string  extensions            (packed name/data pairs, sorted by name)
//   string  reserved              (empty)
//   string  signature key         (the CA public key blob)
//   string  signature             (over every byte above)
import { randomBytes, sign } from 'node:crypto';
import { KilnError } from '../../error/kiln-error.js';
import type { SshCa } from './ssh-ca.js';
import { parseSshPublicKey, type SshKeyType, type SshPublicKey } from './ssh-public-key.js';
import { SshWriter } from './ssh-wire.js';

/** Certificate type name for each plain key type (PROTOCOL.certkeys §"Certificate formats"). */
export const sshCertTypes: Record<SshKeyType, string> = {
  'ssh-ed25519': 'ssh-ed25519-cert-v01@openssh.com',
  'ecdsa-sha2-nistp256': 'ecdsa-sha2-nistp256-cert-v01@openssh.com',
  'ssh-rsa': 'ssh-rsa-cert-v01@openssh.com',
};

/** PROTOCOL.certkeys: "valid before" value meaning the certificate never expires. */
export const sshForever = 0xffff_ffff_ffff_ffffn;

/** What every certificate needs. Times are wall-clock instants; the wire stores whole seconds. */
export interface SshCertificateRequest {
  ca: SshCa;
  /** The subject's public key line (`ssh-ed25519 AAAA…`) or a parsed key. */
  publicKeyLine: string | SshPublicKey;
  /** Host names/addresses (host certs) or user names (user certs); at least one. */
  principals: string[];
  validAfter: Date;
  validBefore: Date | 'forever';
  /** 1 … 2^64-1; unique per CA so the KRL can revoke it (serial 0 cannot be revoked). */
  serial: bigint | number;
  /** Free text logged by sshd on use, e.g. `host:<id>:<boot session>`. */
  keyId: string;
  /** Source of the nonce; defaults to the crypto RNG. Tests inject a fixed one. */
  random?: (n: number) => Uint8Array;
}

/** The permissions a user certificate grants; names from PROTOCOL.certkeys §"Extensions". */
export type SshUserExtension =
  | 'no-touch-required'
  | 'permit-X11-forwarding'
  | 'permit-agent-forwarding'
  | 'permit-port-forwarding'
  | 'permit-pty'
  | 'permit-user-rc';

/** The extensions `ssh-keygen -s` grants by default. */
export const defaultUserExtensions: SshUserExtension[] = [
  'permit-X11-forwarding',
  'permit-agent-forwarding',
  'permit-port-forwarding',
  'permit-pty',
  'permit-user-rc',
];

/** A user certificate request: extensions default to `defaultUserExtensions`. */
export interface SshUserCertificateRequest extends SshCertificateRequest {
  extensions?: SshUserExtension[];
  /** Critical option force-command: the only command this certificate may run. */
  forceCommand?: string;
  /** Critical option source-address: comma-separated CIDR list the client must come from. */
  sourceAddress?: string;
}

/**
 * Signs a host certificate for a node's host key and returns the certificate
 * line (`<type>-cert-v01@openssh.com AAAA… <keyId>`) to install as sshd's
 * `HostCertificate`. Throws validation_failed on a bad key line or request.
 */
export function signHostCertificate(req: SshCertificateRequest): string {
  return signCertificate(req, 2, [], []);
}

/**
 * Signs a user certificate (type 1) that an sshd with
 * `TrustedUserCAKeys <ca.pub>` accepts for the listed principals (user names).
 */
export function signUserCertificate(req: SshUserCertificateRequest): string {
  const critical: Array<[string, Uint8Array]> = [];
  // PROTOCOL.certkeys: the data of force-command and source-address is itself a string.
  if (req.forceCommand !== undefined)
    critical.push(['force-command', new SshWriter().string(req.forceCommand).bytes()]);
  if (req.sourceAddress !== undefined)
    critical.push(['source-address', new SshWriter().string(req.sourceAddress).bytes()]);
  const exts = [...new Set(req.extensions ?? defaultUserExtensions)].map((n): [string, Uint8Array] => [
    n,
    new Uint8Array(0),
  ]);
  return signCertificate(req, 1, critical, exts);
}

function signCertificate(
  req: SshCertificateRequest,
  certType: 1 | 2,
  critical: Array<[string, Uint8Array]>,
  exts: Array<[string, Uint8Array]>,
): string {
  const key = typeof req.publicKeyLine === 'string' ? parseSshPublicKey(req.publicKeyLine) : req.publicKeyLine;
  const v = validateRequest(req);
  const typeName = sshCertTypes[key.type];
  const principals = new SshWriter();
  for (const p of req.principals) principals.string(p);
  const body = new SshWriter()
    .string(typeName)
    .string((req.random ?? randomBytes)(32))
    .raw(key.fields)
    .uint64(v.serial)
    .uint32(certType)
    .string(req.keyId)
    .string(principals.bytes())
    .uint64(v.validAfter)
    .uint64(v.validBefore)
    .string(packOptions(critical))
    .string(packOptions(exts))
    .string(new Uint8Array(0))
    .string(req.ca.publicKey.blob)
    .bytes();
  // RFC 8709 §6: Ed25519 signature blob = string "ssh-ed25519", string sig (64 bytes).
  const signature = new SshWriter()
    .string('ssh-ed25519')
    .string(sign(null, body, req.ca.privateKey))
    .bytes();
  const blob = new SshWriter().raw(body).string(signature).bytes();
  return `${typeName} ${Buffer.from(blob).toString('base64')} ${req.keyId.replace(/\s+/g, '_')}`;
}

// PROTOCOL.certkeys: options and extensions are packed (string name, string
// data) pairs and MUST be lexically ordered by name; each name appears once.
function packOptions(opts: Array<[string, Uint8Array]>): Uint8Array {
  const w = new SshWriter();
  for (const [name, data] of [...opts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) w.string(name).string(data);
  return w.bytes();
}

function validateRequest(req: SshCertificateRequest): { serial: bigint; validAfter: bigint; validBefore: bigint } {
  const issues: Array<{ path: string; code: string; message: string }> = [];
  const bad = (path: string, message: string) => issues.push({ path, code: 'invalid', message });
  if (req.principals.length === 0)
    bad('principals', 'at least one principal is required (an empty list would be valid for every host or user)');
  req.principals.forEach((p, i) => {
    // eslint-disable-next-line no-control-regex -- refusing control characters means naming them.
    if (p === '' || /[\s,\x00-\x1f\x7f]/.test(p))
      bad(
        `principals/${i}`,
        `principal ${JSON.stringify(p)} must be non-empty with no spaces, commas or control characters`,
      );
  });
  // eslint-disable-next-line no-control-regex -- refusing control characters means naming them.
  if (req.keyId === '' || /[\x00-\x1f\x7f]/.test(req.keyId)) bad('keyId', 'key id must be non-empty printable text');
  let serial = 0n;
  try {
    serial = BigInt(req.serial);
  } catch {
    /* reported below */
  }
  if (serial < 1n || serial > sshForever)
    bad('serial', 'serial must be between 1 and 2^64-1 (serial 0 cannot be revoked by a KRL)');
  const validAfter = seconds(req.validAfter, 'validAfter', bad);
  const validBefore = req.validBefore === 'forever' ? sshForever : seconds(req.validBefore, 'validBefore', bad);
  if (validBefore <= validAfter) bad('validBefore', 'validBefore must be later than validAfter');
  if (issues.length > 0)
    throw new KilnError(
      'validation_failed',
      `SSH certificate request is invalid: ${issues.map((i) => i.message).join('; ')}`,
      { issues },
    );
  return { serial, validAfter, validBefore };
}

function seconds(d: Date, path: string, bad: (path: string, message: string) => void): bigint {
  const ms = d.getTime();
  if (!Number.isFinite(ms) || ms < 0) {
    bad(path, `${path} must be a valid time after 1970`);
    return 0n;
  }
  return BigInt(Math.floor(ms / 1000));
}
