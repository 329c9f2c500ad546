// Linux only (STYLE rule 4). The native TFTP data loop (native/tftp-pump,
// N-API, built by `npm ci` through the root package's `install` script): one
// native thread per transfer moves DATA and ACKs; see docs/tftp.md "Engines".
import { createRequire } from 'node:module';
import { packagePath } from '../../runtime/package-path.js';
import type { TftpTransferOutcome } from './tftp-transfer.js';

/** What the native loop reports once it has closed its socket and file. */
export interface TftpPumpResult {
  outcome: TftpTransferOutcome;
  /** Blocks acknowledged (not wrapped). */
  blocks: number;
  /** Retransmissions (timer expiries that resent), over the whole transfer. */
  retries: number;
  /** errno of a read error (or of a failed poll before `aborted`; ECONNREFUSED on a `timeout` whose client went away before its first ACK); 0 otherwise. */
  errno: number;
  /** The client's ERROR code and message when `outcome` is `peer_error`; 0 and '' otherwise. */
  peerCode: number;
  peerMessage: string;
}

/** Parameters of one native transfer; times in ms, sizes in bytes. */
export interface TftpPumpOptions {
  size: number;
  blksize: number;
  windowsize: number;
  /** First retransmission timeout; doubles per retry, capped at 16 s. */
  timeoutMs: number;
  maxRetries: number;
  /** Niceness of the transfer's thread (0..19; Linux nice is per thread); absent or 0 leaves it as the process. */
  nice?: number;
  /** The encoded OACK to send first and have acknowledged with ACK 0; absent means start with DATA 1. */
  oack?: Uint8Array;
}

/** An opaque handle of a running native transfer, for `abortPump`; valid for the life of the object. */
export type TftpPumpHandle = { readonly __brand: 'TftpPumpHandle' };

/** The addon's exports (native/tftp-pump/tftp_pump.c). */
export interface TftpPumpAddon {
  /**
   * Starts a transfer on its own thread. `sockFd` (bound, connected UDP) is
   * duplicated, so the caller closes its socket afterwards; `fileFd` belongs
   * to the transfer once this returns. Throws (the caller keeps `fileFd`)
   * when no thread or descriptor can be had.
   */
  startPump(
    sockFd: number,
    fileFd: number,
    opts: TftpPumpOptions,
  ): { done: Promise<TftpPumpResult>; handle: TftpPumpHandle };
  /** Ends the transfer promptly with `aborted`; does nothing once it has ended. */
  abortPump(handle: TftpPumpHandle): void;
}

/** The command that builds the addons; the warning quotes it. */
export const TFTP_PUMP_BUILD_COMMAND =
  'npm run install   (node-gyp rebuild -C native/tftp-pump; needs gcc, g++, make, python3)';
const ADDON_PATH = 'native/tftp-pump/build/Release/tftp_pump.node';

/** Loads the built addon, or says why it cannot (not Linux, not built). */
export function loadTftpPump(): { addon: TftpPumpAddon } | { reason: string } {
  if (process.platform !== 'linux')
    return { reason: `the native TFTP engine needs Linux; this is ${process.platform}` };
  try {
    return { addon: createRequire(import.meta.url)(packagePath(ADDON_PATH)) as TftpPumpAddon };
  } catch (err) {
    return {
      reason: `native/tftp-pump is not built or does not load (${(err as Error).message.split('\n')[0]}); build it with: ${TFTP_PUMP_BUILD_COMMAND}`,
    };
  }
}
