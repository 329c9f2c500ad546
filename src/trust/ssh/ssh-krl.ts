// OpenSSH Key Revocation Lists (PROTOCOL.krl), served to nodes for sshd's
// `RevokedKeys` and to clients for `ssh -o RevokedHostKeys=`. Unsigned: the
// file reaches nodes over the authenticated node channel.
//
//   uint64 KRL_MAGIC 0x5353484b524c0a00 ("SSHKRL\n\0")
//   uint32 KRL_FORMAT_VERSION (1)
//   uint64 krl_version        (grows with every change)
//   uint64 generated_date     (seconds since the epoch)
//   uint64 flags              (none defined: 0)
//   string reserved
//   string comment
//   then sections: byte section_type, string section_data
import { KilnError } from '../../error/kiln-error.js';
import { parseSshPublicKey, type SshPublicKey } from './ssh-public-key.js';
import { SshWriter } from './ssh-wire.js';

const krlMagic = 0x5353484b524c0a00n;
const krlFormatVersion = 1;
// PROTOCOL.krl §1 and §2 section and sub-section type numbers.
const sectionCertificates = 1;
const sectionExplicitKey = 2;
const certSectionSerialList = 0x20;
const certSectionKeyId = 0x23;

/** What to revoke. Every list may be empty; an empty KRL revokes nothing. */
export interface KrlRequest {
  /**
   * The CA that issued the certificates named by `serials` and `keyIds`, or several CAs (controllers that joined
   * each other, each with its own CA): one certificate section per CA, each naming every serial and key id.
   */
  ca: SshPublicKey | string | ReadonlyArray<SshPublicKey | string>;
  /** Certificate serials to revoke (1 … 2^64-1; PROTOCOL.krl cannot revoke serial 0). */
  serials?: Array<bigint | number>;
  /** Certificate key ids to revoke. */
  keyIds?: string[];
  /** Plain public keys to revoke outright; revokes every certificate for them too. */
  keys?: Array<SshPublicKey | string>;
  /** Monotonic KRL version; store it and add one on every change. */
  version: bigint | number;
  generatedAt: Date;
  comment?: string;
}

/** Builds a KRL file (bytes to write as sshd's `RevokedKeys`). Throws validation_failed on a bad serial or key. */
export function encodeKrl(req: KrlRequest): Uint8Array {
  const list = (Array.isArray(req.ca) ? req.ca : [req.ca]) as ReadonlyArray<SshPublicKey | string>;
  const cas = list.map((c) => (typeof c === 'string' ? parseSshPublicKey(c) : c));
  const w = new SshWriter()
    .uint64(krlMagic)
    .uint32(krlFormatVersion)
    .uint64(BigInt(req.version))
    .uint64(BigInt(Math.floor(req.generatedAt.getTime() / 1000)))
    .uint64(0n)
    .string(new Uint8Array(0))
    .string(req.comment ?? '');
  const serials = uniqueSerials(req.serials ?? []);
  const keyIds = [...new Set(req.keyIds ?? [])].sort();
  if (serials.length > 0 || keyIds.length > 0)
    for (const ca of cas) w.byte(sectionCertificates).string(certificateSection(ca, serials, keyIds));
  const keys = (req.keys ?? []).map((k) => (typeof k === 'string' ? parseSshPublicKey(k) : k));
  if (keys.length > 0) {
    // PROTOCOL.krl §3: a sequence of plain public key blobs.
    const s = new SshWriter();
    for (const k of keys) s.string(k.blob);
    w.byte(sectionExplicitKey).string(s.bytes());
  }
  return w.bytes();
}

// PROTOCOL.krl §2: string ca_key, string reserved, then sub-sections
// (byte type, string data). KRL_SECTION_CERT_SERIAL_LIST is a run of uint64;
// KRL_SECTION_CERT_KEY_ID a run of strings.
function certificateSection(ca: SshPublicKey, serials: bigint[], keyIds: string[]): Uint8Array {
  const s = new SshWriter().string(ca.blob).string(new Uint8Array(0));
  if (serials.length > 0) {
    const list = new SshWriter();
    for (const n of serials) list.uint64(n);
    s.byte(certSectionSerialList).string(list.bytes());
  }
  if (keyIds.length > 0) {
    const list = new SshWriter();
    for (const id of keyIds) list.string(id);
    s.byte(certSectionKeyId).string(list.bytes());
  }
  return s.bytes();
}

function uniqueSerials(input: Array<bigint | number>): bigint[] {
  const out = new Set<bigint>();
  for (const v of input) {
    let n: bigint;
    try {
      n = BigInt(v);
    } catch {
      n = -1n;
    }
    if (n < 1n || n > 0xffff_ffff_ffff_ffffn) {
      throw new KilnError('validation_failed', `KRL serial ${String(v)} is out of range (1 … 2^64-1)`, {
        issues: [{ path: 'serials', code: 'out_of_range', message: 'serial out of range' }],
      });
    }
    out.add(n);
  }
  return [...out].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
