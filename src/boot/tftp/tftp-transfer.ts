/**
 * One read transfer on its own ephemeral socket (RFC 1350 §4: a TID per
 * transfer). Sends OACK or DATA, a window of blocks at a time (RFC 7440),
 * retransmits on timeout with doubling back-off and a bounded retry count,
 * and always ends by closing its socket and its file.
 */
import {
  decodeAckBlock,
  encodeTftp,
  decodeTftp,
  writeDataHeader,
  type TftpOption,
} from '../../protocols/tftp/packet.js';
import { TftpErrorCode } from '../../protocols/tftp/codes.js';
import type { TftpTransferOptions } from '../../protocols/tftp/negotiate.js';
import { DecodeError } from '../../protocols/decode-error.js';
import type { Logger } from '../../log/logger.js';
import { samePeer, type DatagramSocket, type UdpPeer } from '../../net/datagram/datagram-socket.js';
import type { TftpFile } from './file-source.js';

/** How a transfer ended: `complete` (last block acknowledged), `timeout` (client vanished), `peer_error` (client sent ERROR), `aborted` (server shut down), `read_error`. */
export type TftpTransferOutcome = 'complete' | 'timeout' | 'peer_error' | 'aborted' | 'read_error';

/** Everything one transfer needs; the transfer owns `socket` and `file` and closes both. */
export interface TftpTransferDeps {
  socket: DatagramSocket;
  peer: UdpPeer;
  file: TftpFile;
  options: TftpTransferOptions;
  /** Options for the OACK; empty means start with DATA 1 (RFC 2347 §4: no OACK when no option is accepted). */
  oack: TftpOption[];
  retransmitMs: number;
  maxRetries: number;
  log: Logger;
}

/** A running transfer; `done` resolves once its socket and file are closed. */
export interface TftpTransfer {
  readonly done: Promise<TftpTransferOutcome>;
  abort(): void;
}

/** Bytes read from the file per read call (rounded to whole blocks); one read feeds many packets. */
const READ_AHEAD_BYTES = 256 * 1024;
/** Upper bound of a retransmission timeout after back-off. */
const MAX_BACKOFF_MS = 16_000;

/** Starts sending `file` to `peer`; see `TftpTransfer`. */
export function startTftpTransfer(deps: TftpTransferDeps): TftpTransfer {
  const { socket, peer, file, options, log } = deps;
  const { blksize, windowsize } = options;
  // The last block is the first one shorter than blksize, possibly empty (RFC 1350 §6).
  const lastBlock = Math.floor(file.size / blksize) + 1;
  const blocksPerChunk = Math.max(windowsize * 2, Math.ceil(READ_AHEAD_BYTES / blksize));
  const chunkBytes = blocksPerChunk * blksize;
  const chunks = new Map<number, Promise<Uint8Array>>();
  const ready = new Map<number, Uint8Array>(); // chunks already read, used without an await per block
  const slots = Array.from({ length: Math.min(windowsize, lastBlock) }, () => new Uint8Array(4 + blksize));
  const baseTimeout = options.timeoutSec !== null ? options.timeoutSec * 1000 : deps.retransmitMs;
  let phase: 'oack' | 'data' = deps.oack.length > 0 ? 'oack' : 'data';
  let acked = 0; // highest block acknowledged (internal counter, not wrapped)
  let sentMax = 0; // highest block sent
  let retries = 0;
  let generation = 0;
  let timer: NodeJS.Timeout | null = null;
  let finished = false;
  let resolveDone!: (o: TftpTransferOutcome) => void;
  const done = new Promise<TftpTransferOutcome>((r) => {
    resolveDone = r;
  });

  const chunk = (index: number): Promise<Uint8Array> => {
    let c = chunks.get(index);
    if (!c) {
      c = file.read(index * chunkBytes, Math.min(chunkBytes, Math.max(0, file.size - index * chunkBytes)));
      c.then(
        (bytes) => {
          if (chunks.get(index) === c) ready.set(index, bytes);
        },
        () => {},
      ); // errors surface where awaited
      chunks.set(index, c);
    }
    return c;
  };

  const finish = (outcome: TftpTransferOutcome): void => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    socket.close();
    chunks.clear();
    ready.clear();
    file
      .close()
      .catch((err: unknown) => log.warn({ err }, 'tftp: closing file failed'))
      .finally(() => resolveDone(outcome));
  };

  // One Timeout object per transfer, restarted with refresh() on progress (no allocation per packet);
  // replaced only when the back-off changes its duration.
  let timerMs = 0;
  const arm = (): void => {
    const ms = Math.min(MAX_BACKOFF_MS, baseTimeout * 2 ** retries);
    if (timer && ms === timerMs) {
      timer.refresh();
      return;
    }
    if (timer) clearTimeout(timer);
    timerMs = ms;
    timer = setTimeout(onTimeout, ms);
  };

  const sendBlock = (b: number, data: Uint8Array, ci: number): void => {
    const start = (b - 1) * blksize - ci * chunkBytes;
    const payload = data.subarray(start, Math.min(start + blksize, data.length));
    const slot = slots[(b - 1) % slots.length];
    writeDataHeader(slot, b);
    slot.set(payload, 4);
    socket.send(slot.subarray(0, 4 + payload.length), peer);
    if (b > sentMax) sentMax = b;
  };

  const readAheadAndTrim = (first: number, last: number): void => {
    // Start the next chunk while the client works on this window; drop chunks behind the window.
    const next = Math.floor(last / blocksPerChunk);
    if (next * blocksPerChunk < lastBlock && !chunks.has(next)) void chunk(next);
    const behind = Math.floor((first - 1) / blocksPerChunk);
    if (chunks.size > 2)
      for (const k of chunks.keys())
        if (k < behind) {
          chunks.delete(k);
          ready.delete(k);
        }
  };

  /** Sends the window synchronously when its data is already read (the common case: no promise per ACK); false when a chunk is missing. */
  const sendWindowSync = (): boolean => {
    const first = acked + 1;
    const last = Math.min(acked + windowsize, lastBlock);
    const c0 = Math.floor((first - 1) / blocksPerChunk);
    const c1 = Math.floor((last - 1) / blocksPerChunk);
    const d0 = ready.get(c0);
    const d1 = c1 === c0 ? d0 : ready.get(c1);
    if (!d0 || !d1) return false;
    ++generation;
    arm();
    for (let b = first; b <= last; b++) {
      const ci = Math.floor((b - 1) / blocksPerChunk);
      sendBlock(b, ci === c0 ? d0 : d1, ci);
    }
    readAheadAndTrim(first, last);
    return true;
  };

  /** Sends the window, awaiting chunks that are not read yet; a newer send (higher generation) cancels this one. */
  const sendWindow = async (): Promise<void> => {
    const gen = ++generation;
    const first = acked + 1;
    const last = Math.min(acked + windowsize, lastBlock);
    arm();
    for (let b = first; b <= last; b++) {
      const ci = Math.floor((b - 1) / blocksPerChunk);
      let data = ready.get(ci);
      if (!data) {
        data = await chunk(ci);
        if (gen !== generation || finished) return;
      }
      sendBlock(b, data, ci);
    }
    readAheadAndTrim(first, last);
  };

  const failRead = (err: unknown): void => {
    log.warn({ err, peer }, 'tftp: read failed, transfer aborted');
    socket.send(encodeTftp({ op: 'error', code: TftpErrorCode.notDefined, message: 'read error' }), peer);
    finish('read_error');
  };

  const send = (): void => {
    if (phase === 'oack') {
      arm();
      socket.send(encodeTftp({ op: 'oack', options: deps.oack }), peer);
      return;
    }
    if (!sendWindowSync()) sendWindow().catch(failRead);
  };

  function onTimeout(): void {
    timer = null;
    if (finished) return;
    if (retries >= deps.maxRetries) {
      log.info({ peer, acked, lastBlock }, 'tftp: client stopped answering, transfer dropped');
      finish('timeout');
      return;
    }
    retries++;
    log.debug({ peer, block: acked + 1, retries }, 'tftp: retransmit');
    send();
  }

  const onAck = (wire: number): void => {
    if (phase === 'oack') {
      if (wire !== 0) return; // not the ACK of our OACK: stale or bogus, ignored
      phase = 'data';
      retries = 0;
      send();
      return;
    }
    const delta = (wire - acked) & 0xffff;
    // RFC 1123 §4.2.3.1: a duplicate ACK must not trigger a retransmission (Sorcerer's Apprentice);
    // only the timer retransmits. An ACK beyond what was sent is ignored too.
    if (delta === 0 || delta > sentMax - acked) return;
    acked += delta;
    retries = 0;
    if (acked >= lastBlock) {
      finish('complete');
      return;
    }
    // RFC 7440 §4: the sender continues from the block after the acknowledged one (a partial ACK means a gap).
    send();
  };

  socket.receive((bytes, from) => {
    if (finished) return;
    if (!samePeer(from, peer)) {
      // RFC 1350 §4: a packet from a foreign TID gets ERROR 5 and does not disturb the transfer.
      socket.send(
        encodeTftp({ op: 'error', code: TftpErrorCode.unknownTransferId, message: 'unknown transfer ID' }),
        from,
      );
      return;
    }
    const ackBlock = decodeAckBlock(bytes);
    if (ackBlock >= 0) {
      onAck(ackBlock);
      return;
    }
    let packet;
    try {
      packet = decodeTftp(bytes);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      log.debug({ peer, code: err.code, offset: err.offset }, 'tftp: malformed packet dropped');
      return;
    }
    if (packet.op === 'ack') onAck(packet.block);
    else if (packet.op === 'error') {
      log.info({ peer, code: packet.code, message: packet.message }, 'tftp: client ended transfer with ERROR');
      finish('peer_error');
    } else log.debug({ peer, op: packet.op }, 'tftp: unexpected packet on transfer port dropped');
  });

  send();
  return { done, abort: () => finish('aborted') };
}
