// SSH wire encoding (RFC 4251 §5): the data types used by public keys,
// certificates (PROTOCOL.certkeys), private keys (PROTOCOL.key) and KRLs
// (PROTOCOL.krl). Pure: bytes in, values out.
import { KilnError } from '../../error/kiln-error.js';

/** Appends SSH wire values to a growing byte list; `bytes()` returns the concatenation. */
export class SshWriter {
  private readonly parts: Uint8Array[] = [];

  /** RFC 4251 §5: byte — one octet. */
  byte(v: number): this {
    this.parts.push(Uint8Array.of(v & 0xff));
    return this;
  }

  /** RFC 4251 §5: uint32 — four octets, most significant first. */
  uint32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0);
    this.parts.push(b);
    return this;
  }

  /** RFC 4251 §5: uint64 — eight octets, most significant first. */
  uint64(v: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v));
    this.parts.push(b);
    return this;
  }

  /** RFC 4251 §5: string — uint32 length then the bytes (UTF-8 for text). */
  string(v: Uint8Array | string): this {
    const b = typeof v === 'string' ? new TextEncoder().encode(v) : v;
    this.uint32(b.length);
    this.parts.push(b);
    return this;
  }

  /** Raw bytes with no length prefix. */
  raw(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }

  /** The bytes written so far. */
  bytes(): Uint8Array {
    const total = this.parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

/**
 * Reads SSH wire values; any read past the end throws KilnError
 * validation_failed naming `what` (the structure being decoded), so callers
 * never see half-built values.
 */
export class SshReader {
  private off = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  /** Bytes not yet read. */
  get remaining(): number {
    return this.buf.length - this.off;
  }

  private take(n: number): Uint8Array {
    if (n > this.remaining) this.fail(`is truncated (wanted ${n} bytes at offset ${this.off}, ${this.remaining} left)`);
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }

  /** Throws validation_failed with `what` prefixed to `message`. */
  fail(message: string): never {
    throw new KilnError('validation_failed', `${this.what} ${message}`);
  }

  byte(): number {
    return this.take(1)[0];
  }

  uint32(): number {
    const b = this.take(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  uint64(): bigint {
    const b = this.take(8);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
  }

  /** A length-prefixed byte string (a view into the input, not a copy). */
  string(): Uint8Array {
    return this.take(this.uint32());
  }

  /** A length-prefixed string that must be valid UTF-8. */
  text(): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.string());
    } catch (err) {
      if (err instanceof KilnError) throw err;
      return this.fail('holds a string that is not valid UTF-8');
    }
  }

  /** Everything left, without a length prefix. */
  rest(): Uint8Array {
    return this.take(this.remaining);
  }

  /** Throws unless every byte was consumed (strict parsing: no trailing data). */
  end(): void {
    if (this.remaining !== 0) this.fail(`has ${this.remaining} unexpected trailing bytes`);
  }
}
