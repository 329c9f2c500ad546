/**
 * RFC 6587 TCP framing, as an incremental deframer: feed it each chunk a
 * connection delivers, get whole frames back. The framing is chosen once per
 * connection from its first byte (RFC 6587 §3.4):
 *
 *   octet counting (§3.4.1)   MSG-LEN SP SYSLOG-MSG     e.g. "144 <133>1 2026-…"   (first byte a digit)
 *   non-transparent (§3.4.2)  SYSLOG-MSG LF             e.g. "<133>Dec  6 …\n"      (anything else)
 *
 * Memory is bounded by SYSLOG_MAX_MESSAGE_OCTETS: a longer frame is cut there
 * (the rest is skipped, and the frame says `truncated`). A MSG-LEN that is
 * not a number is an error after which the stream cannot be resynchronised:
 * the caller must drop the connection.
 */
import { LF, SP } from './bytes.js';
import { SYSLOG_MAX_MESSAGE_OCTETS } from './codes.js';
import { DecodeError } from '../decode-error.js';

/** One message cut from the stream; `truncated` when it was longer than the cap (decode with `{ truncated }`). */
export interface SyslogFrame {
  bytes: Uint8Array;
  truncated: boolean;
}

/** What one push gives: the frames completed by this chunk, and an error when the connection must be dropped. */
export interface DeframeResult {
  frames: SyslogFrame[];
  error?: DecodeError;
}

/** An RFC 6587 deframer for one TCP connection; not shared between connections. */
export interface SyslogDeframer {
  /** Feeds the next chunk. After an error every later push returns the same error and no frames. */
  push(chunk: Uint8Array): DeframeResult;
  /** The connection ended: gives the unterminated last frame, if any (a collector keeps it); an incomplete octet-counted frame is marked truncated. */
  end(): SyslogFrame[];
}

/** Digits a MSG-LEN may have: enough for any length, few enough to fail fast on garbage. */
const MAX_LEN_DIGITS = 9;

/** Creates a deframer; `maxOctets` (tests only) overrides the per-message cap. */
export function createSyslogDeframer(maxOctets = SYSLOG_MAX_MESSAGE_OCTETS): SyslogDeframer {
  let mode: 'unknown' | 'octet' | 'lf' = 'unknown';
  let buf = new Uint8Array(0); // bytes of the frame being collected (never more than maxOctets)
  let want = -1; // octet counting: MSG-LEN of the current frame, -1 while reading MSG-LEN
  let skip = 0; // octet counting: bytes of the current frame discarded past the cap
  let discarding = false; // LF framing: inside an over-long line already emitted
  let lenText = ''; // octet counting: the MSG-LEN digits read so far
  let seen = 0; // bytes consumed, for error offsets
  let error: DecodeError | undefined;

  const append = (chunk: Uint8Array) => {
    const room = maxOctets - buf.length;
    const take = chunk.subarray(0, Math.max(0, room));
    const next = new Uint8Array(buf.length + take.length);
    next.set(buf);
    next.set(take, buf.length);
    buf = next;
    return chunk.length - take.length; // bytes that did not fit
  };
  const emit = (frames: SyslogFrame[], truncated: boolean) => {
    frames.push({ bytes: buf, truncated });
    buf = new Uint8Array(0);
  };

  function pushLf(chunk: Uint8Array, frames: SyslogFrame[]): void {
    let i = 0;
    while (i < chunk.length) {
      const lf = chunk.indexOf(LF, i);
      const stop = lf < 0 ? chunk.length : lf;
      if (!discarding && append(chunk.subarray(i, stop)) > 0) {
        emit(frames, true);
        discarding = true; // the rest of this over-long line, up to its LF
      }
      if (lf >= 0) {
        if (!discarding && buf.length > 0) emit(frames, false); // empty lines carry no message
        discarding = false;
      }
      i = stop + 1;
    }
  }

  function pushOctet(chunk: Uint8Array, frames: SyslogFrame[]): DecodeError | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (want < 0) {
        const b = chunk[i];
        if ((b === LF || b === 0x0d) && lenText === '') {
          // Not in RFC 6587 §3.4.1 (no trailer after an octet-counted frame), but some senders add
          // CR LF or LF after each frame; tolerated between frames, where it cannot be a MSG-LEN.
          i++;
          continue;
        }
        if (b === SP && lenText !== '') {
          want = Number(lenText);
          lenText = '';
          i++;
          continue;
        }
        // RFC 6587 §3.4.1: MSG-LEN = NONZERO-DIGIT *DIGIT, then SP.
        const digit = b >= 0x30 && b <= 0x39 && !(lenText === '' && b === 0x30);
        if (!digit || lenText.length >= MAX_LEN_DIGITS)
          return new DecodeError('syslog', 'bad_frame_length', seen + i, 'MSG-LEN');
        lenText += String.fromCharCode(b);
        i++;
        continue;
      }
      const need = want - buf.length - skip;
      const part = chunk.subarray(i, i + need);
      const overflow = append(part);
      skip += overflow;
      i += part.length;
      if (buf.length + skip === want) {
        emit(frames, skip > 0);
        want = -1;
        skip = 0;
      }
    }
    return undefined;
  }

  return {
    push(chunk) {
      if (error) return { frames: [], error };
      const frames: SyslogFrame[] = [];
      let data = chunk;
      if (mode === 'unknown') {
        // Leading LFs (a sender's keep-alive) carry no frame and do not choose the framing.
        let k = 0;
        while (k < data.length && data[k] === LF) k++;
        if (k === data.length) return { frames };
        mode = data[k] >= 0x30 && data[k] <= 0x39 ? 'octet' : 'lf';
        seen += k;
        data = data.subarray(k);
      }
      if (mode === 'lf') pushLf(data, frames);
      else error = pushOctet(data, frames);
      seen += data.length;
      return error ? { frames, error } : { frames };
    },
    end() {
      if (error || buf.length === 0) return [];
      const frames: SyslogFrame[] = [];
      // LF framing: the last line had no LF yet. Octet counting: the connection ended inside a frame (cut).
      if (mode === 'lf' && !discarding) emit(frames, false);
      if (mode === 'octet') emit(frames, true);
      return frames;
    },
  };
}
