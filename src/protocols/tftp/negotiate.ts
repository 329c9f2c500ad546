/**
 * Option negotiation for a read request (RFC 2347 §4, RFC 2348, RFC 2349,
 * RFC 7440). Pure: takes the request's options and the server's limits,
 * returns the values to use and the OACK options, or a refusal (ERROR 8).
 */
import { TFTP_DEFAULT_BLKSIZE, TftpOptionRange } from './codes.js';
import type { TftpOption } from './packet.js';

/** The server's limits; each is inclusive and already inside the RFC range. */
export interface TftpOptionLimits {
  /** Largest block size granted; a larger request is lowered to this (RFC 2348 §2 allows a smaller reply). */
  maxBlksize: number;
  /** Largest window granted; a larger request is lowered to this (RFC 7440 §3). */
  maxWindowsize: number;
  /** Whether tsize, timeout, blksize, windowsize are offered at all; false entries are ignored as unknown. */
  enabled?: Partial<Record<'blksize' | 'tsize' | 'timeout' | 'windowsize', boolean>>;
}

/** Transfer parameters after negotiation; `timeoutSec` is null when the client did not ask for one. */
export interface TftpTransferOptions {
  blksize: number;
  windowsize: number;
  timeoutSec: number | null;
}

/** The negotiation outcome: accepted options (empty `oack` means reply with DATA 1 directly) or a refusal. */
export type TftpNegotiation =
  { ok: true; options: TftpTransferOptions; oack: TftpOption[] } | { ok: false; reason: string };

const decimal = /^[0-9]{1,10}$/;

/**
 * Negotiates the options of one RRQ. `fileSize` answers tsize (RFC 2349 §4:
 * the server replies with the size in octets). Unknown options are ignored
 * (RFC 2347 §4: the server omits options it does not support). A malformed or
 * out-of-range value of a known option refuses the request (ERROR 8).
 */
export function negotiateTftpOptions(
  requested: TftpOption[],
  fileSize: number,
  limits: TftpOptionLimits,
): TftpNegotiation {
  const options: TftpTransferOptions = { blksize: TFTP_DEFAULT_BLKSIZE, windowsize: 1, timeoutSec: null };
  const oack: TftpOption[] = [];
  const on = (k: 'blksize' | 'tsize' | 'timeout' | 'windowsize'): boolean => limits.enabled?.[k] ?? true;
  const seen = new Set<string>();
  for (const { name, value } of requested) {
    const key = name.toLowerCase();
    // RFC 2347 does not define repeated options; the first one wins, later copies are ignored.
    if (seen.has(key)) continue;
    seen.add(key);
    if (key !== 'blksize' && key !== 'tsize' && key !== 'timeout' && key !== 'windowsize') continue;
    if (!on(key)) continue;
    if (!decimal.test(value)) return { ok: false, reason: `option ${key} value "${value}" is not a decimal number` };
    const n = Number(value);
    switch (key) {
      case 'blksize':
        // RFC 2348 §2: valid values range between 8 and 65464 octets; the server may reply with a smaller one.
        if (n < TftpOptionRange.blksize.min)
          return { ok: false, reason: `blksize ${n} is below ${TftpOptionRange.blksize.min}` };
        options.blksize = Math.min(n, limits.maxBlksize, TftpOptionRange.blksize.max);
        oack.push({ name, value: String(options.blksize) });
        break;
      case 'windowsize':
        // RFC 7440 §3: 1..65535 blocks; the server may reply with a smaller window.
        if (n < TftpOptionRange.windowsize.min) return { ok: false, reason: `windowsize ${n} is below 1` };
        options.windowsize = Math.min(n, limits.maxWindowsize, TftpOptionRange.windowsize.max);
        oack.push({ name, value: String(options.windowsize) });
        break;
      case 'timeout':
        // RFC 2349 §2: 1..255 seconds; the server must answer with the same value or not at all.
        if (n < TftpOptionRange.timeout.min || n > TftpOptionRange.timeout.max)
          return { ok: false, reason: `timeout ${n} is outside 1..255` };
        options.timeoutSec = n;
        oack.push({ name, value: value });
        break;
      case 'tsize':
        // RFC 2349 §4: in a RRQ the client sends 0 and the server answers with the file's size.
        oack.push({ name, value: String(fileSize) });
        break;
    }
  }
  return { ok: true, options, oack };
}
