/**
 * Where a transfer runs: on this event loop or in a worker thread
 * (`tftp-worker-pool.ts`). The listener decides what to send; a runner binds
 * the transfer's socket and runs it.
 */
import type { TftpOption } from '../../protocols/tftp/packet.js';
import type { TftpTransferOptions } from '../../protocols/tftp/negotiate.js';
import type { Logger } from '../../log/logger.js';
import type { DatagramSocketFactory, UdpPeer } from '../../net/datagram/datagram-socket.js';
import type { TftpFile } from './file-source.js';
import { startTftpTransfer, type TftpTransfer } from './tftp-transfer.js';

/** A transfer decided by the listener, as plain data (it crosses to worker threads by structured clone). */
export interface TftpTransferPlan {
  peer: UdpPeer;
  /** Address the transfer's ephemeral socket binds on (the listen address). */
  localAddress: string;
  options: TftpTransferOptions;
  /** Options for the OACK; empty means start with DATA 1. */
  oack: TftpOption[];
  retransmitMs: number;
  maxRetries: number;
}

/**
 * Starts a transfer. Owns `file` from the call on: when no socket can be
 * bound it closes the file and rejects; otherwise the transfer closes it.
 */
export type TftpTransferRunner = (plan: TftpTransferPlan, file: TftpFile) => Promise<TftpTransfer>;

/** Runs transfers on the calling thread's event loop, with sockets from `sockets`. */
export function inProcessTransferRunner(sockets: DatagramSocketFactory, log: Logger): TftpTransferRunner {
  return async (plan, file) => {
    let socket;
    try {
      socket = await sockets({ address: plan.localAddress, port: 0 }, plan.peer);
    } catch (err) {
      await file.close();
      throw err;
    }
    return startTftpTransfer({ socket, file, log, ...plan });
  };
}
