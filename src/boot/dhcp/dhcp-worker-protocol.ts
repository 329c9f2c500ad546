// The messages between the main thread (dhcp-worker-server.ts) and the DHCP
// worker thread (dhcp-worker.ts), and what the worker is started with.
import type { ErrorCode } from '../../error/codes.js';
import type { DhcpPacket } from '../../protocols/dhcp4/packet.js';
import type { DiscoverySettings } from '../discovery-policy.js';
import type { DhcpConfig } from './dhcp-config.js';
import type { LocalAddress } from './dhcp-listeners.js';

/** The database the worker opens itself: the controller's SQLite file, or its PostgreSQL (a small pool of its own). */
export type DhcpWorkerStore = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** The server's counters, in this order in the shared Float64Array; `queued` is a gauge, the rest only grow. */
export const DHCP_WORKER_STATS = [
  'received',
  'replied',
  'ignored',
  'malformed',
  'failed',
  'shed',
  'takenOver',
  'queued',
] as const;

/** This member as DHCP takeover needs it (PostgreSQL only): its id, its own server identifiers, cluster.staleSeconds in ms. */
export interface DhcpWorkerMember {
  memberId: string;
  ownServerIds: string[];
  staleMs: number;
}

/** What the worker is started with (structured-cloned; `stats` is shared, written by the worker only). */
export interface DhcpWorkerData {
  /** The `dhcp:` slice, each attached subnet's interface already resolved. */
  config: DhcpConfig;
  local: LocalAddress[];
  store: DhcpWorkerStore;
  /** The settings part of the discovery policy, decided in the worker (unknown-mac-gate.ts). */
  discovery: Pick<DiscoverySettings, 'mode' | 'allow'>;
  logServer: boolean;
  /** Send `reply` messages (the boot timeline listens). */
  observeReplies: boolean;
  /** A Float64Array of DHCP_WORKER_STATS.length over it. */
  stats: SharedArrayBuffer;
  /** Tests only: other ports than 67 and 4011. */
  ports?: { dhcp: number; pxe: number } | undefined;
  /** Answer REQUESTs for dead members of the store (member-takeover.ts); PostgreSQL only. */
  member?: DhcpWorkerMember | undefined;
}

/** Main thread to worker: the discovery policy's verdict on a reported unknown MAC; stop serving. */
export type DhcpWorkerRequest = { type: 'verdict'; mac: string; ok: boolean } | { type: 'close' };

/** A socket died and was re-opened, or could not be (dhcp-server.ts `onSocketEvent`). */
export interface DhcpSocketEvent {
  kind: 'reopened' | 'failed';
  interface: string | undefined;
  port: number;
  error: string;
}

/** Worker to main thread. Nothing here is answered: the worker never waits for the main thread. */
export type DhcpWorkerReply =
  | { type: 'ready'; listeners: Array<{ interface: string | undefined; port: number }> }
  | { type: 'startFailed'; code: ErrorCode; message: string }
  | { type: 'unknownMac'; mac: string; subnet: string }
  | { type: 'reply'; mac: string; request: DhcpPacket; reply: DhcpPacket }
  | { type: 'socketErrors'; counts: Array<{ op: 'send' | 'receive'; errno: string; n: number }> }
  | { type: 'socketEvent'; event: DhcpSocketEvent }
  | { type: 'fatal'; code: ErrorCode; message: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: object; msg?: string | undefined }
  | { type: 'closed' };
