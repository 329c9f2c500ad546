// SHA-512 crypt ("$6$"), the scheme glibc and libxcrypt use for /etc/shadow,
// as specified by Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512"
// (https://www.akkadia.org/drepper/SHA-crypt.txt). Passwords are hashed as
// their UTF-8 bytes. Installed nodes get these hashes; clear text never is stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KilnError } from '../../error/kiln-error.js';

/** SHA-crypt §"rounds": fewer rounds than this are raised to it. */
const minRounds = 1000;
/** SHA-crypt §"rounds": more rounds than this are lowered to it. */
const maxRounds = 999_999_999;
/** The spec's default when no "rounds=" is given (then none appears in the hash). */
const specDefaultRounds = 5000;
/**
 * Rounds `hashPassword` uses by default: the spec default, about 15 ms on one
 * core. Hashing is synchronous, so a server hashing on a request path should
 * not go much higher; offline callers (the CLI) may pass more.
 */
const defaultRounds = specDefaultRounds;

const alphabet = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const sha512CryptPattern = /^\$6\$(?:rounds=(\d{1,9})\$)?([^$:\n]{1,16})\$([./0-9A-Za-z]{86})$/;

/**
 * Computes crypt(3) for a `$6$` setting such as `$6$<salt>` or
 * `$6$rounds=N$<salt>` (anything after a further `$` is ignored, so a full
 * hash works as the setting). Salt is cut to 16 characters and rounds are
 * clamped exactly as glibc does. Throws validation_failed for a setting that
 * is not `$6$`.
 */
export function sha512Crypt(password: string, setting: string): string {
  const parsed = parseSetting(setting);
  const hash = digest(new TextEncoder().encode(password), new TextEncoder().encode(parsed.salt), parsed.rounds);
  const roundsPart = parsed.custom ? `rounds=${parsed.rounds}$` : '';
  return `$6$${roundsPart}${parsed.salt}$${encode(hash)}`;
}

/**
 * Hashes `clear` with a fresh 16-character salt from the crypto RNG and
 * `rounds` (default `defaultRounds`; written as "rounds=N$" unless it is the
 * spec default, like `openssl passwd -6`).
 */
export function hashPassword(
  clear: string,
  opts: { rounds?: number; random?: (n: number) => Uint8Array } = {},
): string {
  const rounds = opts.rounds ?? defaultRounds;
  if (!Number.isInteger(rounds) || rounds < minRounds || rounds > maxRounds) {
    throw new KilnError(
      'validation_failed',
      `SHA-512 crypt rounds must be an integer between ${minRounds} and ${maxRounds}`,
    );
  }
  // 12 random bytes → 16 characters of the crypt alphabet (96 bits of salt).
  const bytes = (opts.random ?? randomBytes)(12);
  let salt = '';
  for (let i = 0; i < 12; i += 3) {
    const w = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (let j = 0; j < 4; j++) salt += alphabet[(w >> (6 * j)) & 0x3f];
  }
  return sha512Crypt(clear, rounds === specDefaultRounds ? `$6$${salt}` : `$6$rounds=${rounds}$${salt}`);
}

/** True when `clear` matches the `$6$` hash; compares in constant time. False for any other or malformed hash. */
export function verifyPassword(clear: string, hash: string): boolean {
  if (!sha512CryptPattern.test(hash)) return false;
  const computed = Buffer.from(sha512Crypt(clear, hash));
  const expected = Buffer.from(hash);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

/** True for a well-formed `$6$` hash (what `hashPassword` and `openssl passwd -6` produce). */
export function isSha512CryptHash(s: string): boolean {
  return sha512CryptPattern.test(s);
}

// Other crypt(5) schemes an operator may paste from a modern Linux system:
// $5$ SHA-256 crypt, $y$ yescrypt (Debian/Fedora default), $2b$ bcrypt.
// MD5 ($1$) and DES are deliberately absent: they are too weak to accept.
const otherCryptPatterns = [
  /^\$5\$(?:rounds=\d{1,9}\$)?[^$:\n]{1,16}\$[./0-9A-Za-z]{43}$/,
  /^\$y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]*\$[./0-9A-Za-z]{43}$/,
  /^\$2[aby]\$\d{2}\$[./0-9A-Za-z]{53}$/,
];

/**
 * True when `s` looks like a strong crypt(5) hash ($6$, $5$, $y$ or $2b$), so
 * the store can refuse anything that might be a clear-text password. Only
 * `$6$` can be verified here; the others are accepted for pass-through.
 */
export function isCryptHash(s: string): boolean {
  return isSha512CryptHash(s) || otherCryptPatterns.some((p) => p.test(s));
}

function parseSetting(setting: string): { salt: string; rounds: number; custom: boolean } {
  if (!setting.startsWith('$6$'))
    throw new KilnError('validation_failed', 'SHA-512 crypt setting must start with "$6$"');
  let rest = setting.slice(3);
  let rounds = specDefaultRounds;
  let custom = false;
  // SHA-crypt: "rounds=<N>$" directly after the prefix; otherwise it is salt.
  // Out-of-range N is clamped (the spec, glibc, OpenSSL); libxcrypt instead
  // fails with "*0". hashPassword never writes such a setting.
  const m = /^rounds=(\d+)\$/.exec(rest);
  if (m) {
    rounds = Math.max(minRounds, Math.min(maxRounds, Number(m[1])));
    custom = true;
    rest = rest.slice(m[0].length);
  }
  // SHA-crypt: the salt ends at the next "$" and is at most 16 characters.
  const salt = rest.split('$')[0].slice(0, 16);
  return { salt, rounds, custom };
}

// SHA-crypt steps 1–21, numbered as in the specification.
function digest(pw: Uint8Array, salt: Uint8Array, rounds: number): Buffer {
  const sha = () => createHash('sha512');
  // 4–8: digest B = H(password ‖ salt ‖ password)
  const b = sha().update(pw).update(salt).update(pw).digest();
  // 1–3: digest A starts as password ‖ salt
  const a = sha().update(pw).update(salt);
  // 9–10: add B once per full 64 bytes of password, then its first (len mod 64) bytes
  let n = pw.length;
  for (; n > 64; n -= 64) a.update(b);
  a.update(b.subarray(0, n));
  // 11: for each bit of the password length, low bit first: 1 → B, 0 → password
  for (let len = pw.length; len > 0; len >>= 1) a.update(len & 1 ? b : pw);
  let c = a.digest();
  // 13–16: P = H(password repeated len times), stretched/cut to len bytes
  const dp = sha();
  for (let i = 0; i < pw.length; i++) dp.update(pw);
  const p = repeat(dp.digest(), pw.length);
  // 17–20: S = H(salt repeated 16 + A[0] times), cut to the salt length
  const ds = sha();
  for (let i = 0; i < 16 + c[0]; i++) ds.update(salt);
  const s = repeat(ds.digest(), salt.length);
  // 21: the rounds
  for (let i = 0; i < rounds; i++) {
    const r = sha();
    r.update(i & 1 ? p : c);
    if (i % 3 !== 0) r.update(s);
    if (i % 7 !== 0) r.update(p);
    r.update(i & 1 ? c : p);
    c = r.digest();
  }
  return c;
}

function repeat(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let off = 0; off < len; off += block.length) block.copy(out, off, 0, Math.min(block.length, len - off));
  return out;
}

// SHA-crypt step 22: 64 bytes as 86 characters; groups of three bytes taken
// as (i, i+21, i+42) rotated by i mod 3, little-end first; the last byte alone.
function encode(h: Buffer): string {
  let out = '';
  const put = (b2: number, b1: number, b0: number, n: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++, w >>= 6) out += alphabet[w & 0x3f];
  };
  for (let i = 0; i < 21; i++) {
    const t = [h[i], h[i + 21], h[i + 42]];
    const r = i % 3;
    put(t[r], t[(r + 1) % 3], t[(r + 2) % 3], 4);
  }
  put(0, 0, h[63], 2);
  return out;
}
