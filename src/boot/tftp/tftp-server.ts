/**
 * The TFTP listener: receive on the well-known port, decode, decide, start a
 * transfer on its own ephemeral socket. Read-only. Bad input is logged and
 * dropped; only a failed bind rejects `startTftpServer`.
 */
import { decodeTftp, encodeTftp, type TftpRequest } from '../../protocols/tftp/packet.js';
import { DecodeError } from '../../protocols/decode-error.js';
import { TftpErrorCode } from '../../protocols/tftp/codes.js';
import { negotiateTftpOptions } from '../../protocols/tftp/negotiate.js';
import { encodeNetascii } from '../../protocols/tftp/netascii.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import type { DatagramSocketFactory, UdpPeer } from '../../net/datagram/datagram-socket.js';
import { tftpFileFromBytes, type TftpFile, type TftpFileSource } from './file-source.js';
import { resolveTftpPath } from './tftp-path.js';
import { TFTP_PORT, type TftpConfig } from './tftp-config.js';
import type { TftpTransfer, TftpTransferOutcome } from './tftp-transfer.js';
import { inProcessTransferRunner, type TftpTransferPlan, type TftpTransferRunner } from './tftp-transfer-runner.js';
import { nativeTransferRunner } from './tftp-native-transfer.js';
import { loadTftpPump } from './tftp-pump.js';
import { startTftpWorkerPool, type TftpWorkerPool } from './tftp-worker-pool.js';
import { udpSocketFactory } from '../../net/datagram/udp-socket.js';
import { KilnError } from '../../error/kiln-error.js';
import { listenFailure } from '../../startup/start-up-failure.js';
import { createSocketErrorLog } from '../../net/datagram/socket-error-log.js';
import { reopenWithBackoff } from '../../net/datagram/reopen-socket.js';

/** Largest file converted for a netascii read; netascii is for small text files, bigger ones get ERROR 0. */
const MAX_NETASCII_BYTES = 16 * 1024 * 1024;

/** Dependencies of `startTftpServer`. `port` and `sockets` exist for tests; production uses port 69 and real UDP. */
export interface TftpServerDeps {
  config: Pick<
    TftpConfig,
    'address' | 'maxTransfers' | 'retransmitMs' | 'maxRetries' | 'maxBlksize' | 'maxWindowsize'
  > &
    Partial<Pick<TftpConfig, 'workers' | 'engine' | 'nativeNice'>>;
  source: TftpFileSource;
  log?: Logger;
  /** Aborting closes the server like `close()`. */
  signal?: AbortSignal;
  port?: number;
  /** In-memory sockets for tests; with them every transfer runs in JS on this event loop (workers and the native engine need real UDP). */
  sockets?: DatagramSocketFactory;
  /**
   * Called once per finished transfer (metrics, boot timeline); must not throw. `bytes` is the file's
   * size when the transfer completed and 0 otherwise (UEFI PXE asks for tsize and aborts with ERROR 8
   * before every real read; that must not count as a delivered file).
   */
  onTransferEnd?: (event: {
    peer: UdpPeer;
    path: string;
    bytes: number;
    outcome: TftpTransferOutcome;
    ms: number;
  }) => void;
  /** Called when a read request is refused because the file is missing or may not be read (the boot timeline); must not throw. */
  onRefused?: (event: { peer: UdpPeer; path: string; reason: string }) => void;
  /** Counts one socket error (for /metrics); every error is also logged, rate-limited, with its errno. */
  countSocketError?: (server: string, op: 'send' | 'receive', errno: string) => void;
  /** The listen socket died and was re-opened (`reopened`), or could not be (`failed`): for the event log. */
  onSocketEvent?: (e: {
    kind: 'reopened' | 'failed';
    interface: string | undefined;
    port: number;
    error: string;
  }) => void;
  /** The controller's fatal channel: a listen socket that cannot be re-opened stops the controller. */
  onFatal?: (err: KilnError) => void;
  /** Pauses before each re-open attempt (default REOPEN_DELAYS_MS). */
  reopenDelaysMs?: readonly number[];
}

/** A running TFTP server. */
export interface TftpServer {
  /** The bound listen address (the real port when 0 was asked). */
  readonly address: UdpPeer;
  /** Who moves the blocks of files with a descriptor: `native` (native/tftp-pump) or `js` (when configured, or the addon is missing). */
  readonly engine: 'native' | 'js';
  /** Transfers currently running, including ones still looking up their file. */
  readonly activeTransfers: number;
  /** RRQs waiting for a transfer slot (`maxTransfers` reached). */
  readonly waitingRequests: number;
  /** Stops listening, aborts every transfer, and resolves when all sockets and files are closed. Idempotent. */
  close(): Promise<void>;
}

const peerKey = (p: UdpPeer): string => `${p.address}|${p.port}`;
/** Most client ports whose last transfer is remembered for late duplicate RRQs. */
const MAX_ENDED = 10_000;
/** Most RRQs waiting for a transfer slot; beyond it a new one is dropped (its client retries). */
const MAX_WAITING = 20_000;
/** At most one line per this many ms about RRQs that wait or are dropped at the transfer limit. */
const LIMIT_LOG_MS = 5_000;

/** Binds the listen socket and serves read requests until closed or `signal` aborts. */
export async function startTftpServer(deps: TftpServerDeps): Promise<TftpServer> {
  const { config, source } = deps;
  const log = deps.log ?? silentLogger;
  const reportError = createSocketErrorLog({ server: 'tftp', log, count: deps.countSocketError });
  const stopping = new AbortController();
  const sockets =
    deps.sockets ??
    udpSocketFactory({
      recvBufferSize: 4 * 1024 * 1024,
      onError: (err, op, local) => reportError(err, op, { local: `${local.address}:${local.port}` }),
      // Only the listen socket is re-opened; a transfer whose socket dies ends by its own timeout.
      onDeath: (err, local) => {
        if (local.port === main.local.port && local.address === main.local.address) void reopen(err);
      },
    });
  const listenAt = { address: config.address, port: deps.port ?? TFTP_PORT };
  let main = await sockets(listenAt).catch((err: unknown) => {
    throw listenFailure('tftp.address', `${listenAt.address}:${listenAt.port}`, err);
  });
  const inProcess = inProcessTransferRunner(sockets, log);
  const native = deps.sockets
    ? null
    : startNativeEngine(config.engine ?? 'native', config.nativeNice ?? 0, sockets, log);
  let pool: TftpWorkerPool | null = null;
  // The native engine runs each transfer on its own thread; the JS transfers it leaves (generated, small files) stay here.
  const workers = deps.sockets || native ? 0 : (config.workers ?? 0);
  if (workers > 0) {
    try {
      pool = await startTftpWorkerPool({ size: workers, log });
    } catch (err) {
      // Serving from one thread is slower but correct; a missing worker must not stop network boot.
      log.warn({ err, workers }, 'tftp: transfer workers failed to start, serving on the main thread');
    }
  }
  // Keyed by client address and port: a retransmitted RRQ for a running transfer is ignored (its own timer resends).
  // `transfer` is null while the file opens; `superseded`: another file was asked from that port meanwhile.
  interface Running {
    filename: string;
    transfer: TftpTransfer | null;
    superseded: boolean;
  }
  const active = new Map<string, Running>();
  // A client that hears nothing in time resends its RRQ. Under load the copy can wait in the listen socket's
  // queue until the transfer the first one started has ended; served, it starts a transfer to a port nobody
  // listens on, which resends its first packet there with back-off until it gives up (47 s at the defaults;
  // 53 such transfers in a 10 000-machine storm, docs/tftp.md "Late duplicate RRQs"). When the next client
  // binds that port (many clients behind one NAT address; in the boot-storm bench, every simulated machine)
  // it takes that packet for the answer to its own RRQ (RFC 1350 §4: the first packet to reach the client
  // names the server's TID) and reads the wrong file, while its own RRQ was ignored as a duplicate of the
  // orphan. So the same file asked again from a client port within retransmitMs × maxRetries (5 s at the
  // defaults) after its transfer there ended is taken for such a copy and ignored; a new client asking the
  // same file from that port retries and is served after that.
  const ended = new Map<string, { filename: string; at: number }>();
  const lateDuplicateMs = config.retransmitMs * config.maxRetries;
  // RRQs beyond maxTransfers wait here, oldest first, and start as transfers end. Dropping them made each
  // retransmission a lottery for a free slot (a quiet 10 000-machine storm: 17 868 RRQs dropped, 4 707 machines
  // gave up after 10 s of silence); in arrival order, the client that asked first is served first. Keyed like
  // `active`; a retransmission of a waiting RRQ refreshes `seen` and keeps its place. One whose client has been
  // silent longer than lateDuplicateMs (it retransmits more often while it waits) is skipped when reached: it
  // gave up, and if not, its next retransmission queues it again.
  const waiting = new Map<string, { req: TftpRequest; from: UdpPeer; seen: number }>();
  const limitSince = { waited: 0, stale: 0, full: 0 };
  let limitLoggedAt = -Infinity;
  const noteLimit = (what: keyof typeof limitSince): void => {
    limitSince[what]++;
    const t = Date.now();
    if (t - limitLoggedAt < LIMIT_LOG_MS) return;
    log.warn(
      { ...limitSince, waiting: waiting.size, active: active.size, maxTransfers: config.maxTransfers },
      'tftp: transfer limit reached: RRQs wait for a free transfer, oldest first (waited: queued; stale: client silent too long; full: wait list full, dropped)',
    );
    limitLoggedAt = t;
    limitSince.waited = limitSince.stale = limitSince.full = 0;
  };
  const pending = new Set<Promise<unknown>>();
  let closing: Promise<void> | null = null;

  const replyError = (to: UdpPeer, code: number, message: string): void => {
    // Errors before a transfer starts are sent from the listen socket; clients accept the first reply from any port.
    main.send(encodeTftp({ op: 'error', code, message }), to);
  };

  const openFile = async (req: TftpRequest, from: UdpPeer, path: string): Promise<TftpFile | null> => {
    const lookup = await source(path, from);
    if ('error' in lookup) {
      const code = lookup.error === 'not_found' ? TftpErrorCode.fileNotFound : TftpErrorCode.accessViolation;
      log.info({ peer: from, path, reason: lookup.reason }, 'tftp: request refused');
      deps.onRefused?.({
        peer: from,
        path,
        reason: lookup.error === 'not_found' ? 'file not found' : 'access violation',
      });
      replyError(from, code, lookup.error === 'not_found' ? 'file not found' : 'access violation');
      return null;
    }
    if (req.mode.toLowerCase() !== 'netascii') return lookup.file;
    const file = lookup.file;
    try {
      if (file.size > MAX_NETASCII_BYTES) {
        replyError(from, TftpErrorCode.notDefined, 'file too large for netascii');
        return null;
      }
      return tftpFileFromBytes(encodeNetascii(await file.read(0, file.size)));
    } finally {
      await file.close();
    }
  };

  const serveRead = async (req: TftpRequest, from: UdpPeer, run: Running): Promise<void> => {
    const mode = req.mode.toLowerCase();
    if (mode !== 'octet' && mode !== 'netascii') {
      replyError(from, TftpErrorCode.illegalOperation, `mode ${req.mode} not supported`);
      return;
    }
    const resolved = resolveTftpPath(req.filename);
    if (!resolved.ok) {
      log.debug({ peer: from, filename: req.filename, reason: resolved.reason }, 'tftp: path refused');
      replyError(from, TftpErrorCode.accessViolation, 'access violation');
      return;
    }
    const file = await openFile(req, from, resolved.path);
    if (!file) return;
    const negotiation = negotiateTftpOptions(req.options, file.size, config);
    if (!negotiation.ok) {
      await file.close();
      log.info({ peer: from, reason: negotiation.reason }, 'tftp: option negotiation refused');
      replyError(from, TftpErrorCode.optionNegotiation, negotiation.reason);
      return;
    }
    if (closing) {
      await file.close();
      return;
    }
    const plan: TftpTransferPlan = {
      peer: from,
      localAddress: main.local.address,
      options: negotiation.options,
      oack: negotiation.oack,
      retransmitMs: config.retransmitMs,
      maxRetries: config.maxRetries,
    };
    const started = Date.now();
    let transfer: TftpTransfer;
    try {
      // Files that can cross threads go native or to a worker; the others (a source without hand-off) stay here.
      transfer = native
        ? await native(plan, file)
        : pool && file.handOff
          ? await pool.run(plan, file)
          : await inProcess(plan, file);
    } catch (err) {
      log.warn({ err, peer: from }, 'tftp: cannot bind a transfer socket');
      return;
    }
    if (closing || run.superseded) transfer.abort();
    run.transfer = transfer;
    log.debug({ peer: from, path: resolved.path, size: file.size, ...negotiation.options }, 'tftp: transfer started');
    const outcome = await transfer.done;
    deps.onTransferEnd?.({
      peer: from,
      path: resolved.path,
      bytes: outcome === 'complete' ? file.size : 0,
      outcome,
      ms: Date.now() - started,
    });
  };

  const onRequest = (req: TftpRequest, from: UdpPeer): void => {
    const key = peerKey(from);
    const running = active.get(key);
    if (running?.filename === req.filename) return;
    if (running) {
      // RFC 1350 §4: a client's port is its TID, one transfer each. Another file asked from a port with a transfer
      // running means the client that started it is gone (it gave up, and a new client bound the port: many
      // clients behind one NAT address, or every machine of the boot-storm bench). That transfer would go on
      // sending there, and the new client would take its next packet for the answer to its own RRQ (42 such
      // wrong files in a 10 000-machine storm). It ends now; the new RRQ is served.
      log.info(
        { peer: from, running: running.filename, filename: req.filename },
        'tftp: another file asked from a port whose transfer is running; that transfer aborted',
      );
      running.superseded = true;
      running.transfer?.abort();
      active.delete(key);
    }
    const last = ended.get(key);
    if (last && last.filename === req.filename && Date.now() - last.at < lateDuplicateMs) {
      log.debug({ peer: from, filename: req.filename }, 'tftp: late copy of an RRQ already served, ignored');
      return;
    }
    if (active.size >= config.maxTransfers || waiting.size > 0) {
      const w = waiting.get(key);
      if (w && w.req.filename === req.filename) {
        w.seen = Date.now(); // its client still waits; it keeps its place
        return;
      }
      if (w) waiting.delete(key); // another file from that port: the new client's RRQ, at the back
      if (waiting.size >= MAX_WAITING) {
        noteLimit('full');
        return;
      }
      waiting.set(key, { req, from, seen: Date.now() });
      noteLimit('waited');
      admitWaiting();
      return;
    }
    start(req, from, key);
  };

  /** Starts waiting RRQs, oldest first, while transfer slots are free. */
  const admitWaiting = (): void => {
    const now = Date.now();
    for (const [key, w] of waiting) {
      if (active.size >= config.maxTransfers || closing) return;
      waiting.delete(key);
      if (now - w.seen > lateDuplicateMs) {
        noteLimit('stale');
        continue;
      }
      if (active.has(key)) continue;
      start(w.req, w.from, key);
    }
  };

  const start = (req: TftpRequest, from: UdpPeer, key: string): void => {
    const run: Running = { filename: req.filename, transfer: null, superseded: false };
    active.set(key, run);
    const p = serveRead(req, from, run)
      .catch((err: unknown) => {
        log.error({ err, peer: from }, 'tftp: request failed');
        replyError(from, TftpErrorCode.notDefined, 'internal error');
      })
      .finally(() => {
        if (active.get(key) === run) active.delete(key);
        pending.delete(p);
        ended.delete(key); // re-inserted last: the first key is the oldest
        if (ended.size >= MAX_ENDED) ended.delete(ended.keys().next().value!);
        ended.set(key, { filename: req.filename, at: Date.now() });
        if (waiting.size > 0) admitWaiting();
      });
    pending.add(p);
  };

  const serveOn = (sock: typeof main) =>
    sock.receive((bytes, from) => {
      let packet;
      try {
        packet = decodeTftp(bytes);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        log.debug(
          { peer: from, code: err.code, offset: err.offset, field: err.field },
          'tftp: malformed packet dropped',
        );
        return;
      }
      if (packet.op === 'rrq') onRequest(packet, from);
      else if (packet.op === 'wrq') {
        log.info({ peer: from, filename: packet.filename }, 'tftp: write refused (server is read-only)');
        replyError(from, TftpErrorCode.accessViolation, 'server is read-only');
      } else log.debug({ peer: from, op: packet.op }, 'tftp: non-request on the listen port dropped');
    });
  serveOn(main);

  /** The listen socket died: re-open it on the same address with back-off; when that fails, report on the fatal channel. */
  async function reopen(cause: NodeJS.ErrnoException): Promise<void> {
    if (stopping.signal.aborted) return;
    main.close();
    log.error(
      { address: main.local, errno: cause.code, err: cause.message },
      `tftp: the listen socket died (${cause.code}); re-opening`,
    );
    const at = { address: main.local.address, port: main.local.port };
    try {
      const fresh = await reopenWithBackoff(() => sockets(at), {
        delaysMs: deps.reopenDelaysMs,
        signal: stopping.signal,
        onAttemptFailed: (err, attempt) =>
          log.warn(
            { address: at, attempt, err: (err as Error).message },
            'tftp: re-opening the listen socket failed; retrying',
          ),
      });
      if (!fresh) return;
      main = fresh;
      serveOn(main);
      log.warn({ address: at }, 'tftp: listen socket re-opened');
      deps.onSocketEvent?.({
        kind: 'reopened',
        interface: undefined,
        port: at.port,
        error: `${cause.code}: ${cause.message}`,
      });
    } catch (err) {
      const msg = (err as Error).message;
      deps.onSocketEvent?.({ kind: 'failed', interface: undefined, port: at.port, error: msg });
      const fatal = new KilnError(
        'config_invalid',
        `tftp: the listen socket ${at.address}:${at.port} died (${cause.code}) and could not be re-opened: ${msg}; check tftp.address and start Kiln again`,
        { cause: err },
      );
      log.error({ address: at, err: msg }, fatal.message);
      deps.onFatal?.(fatal);
    }
  }

  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopping.abort();
      main.close();
      waiting.clear();
      for (const t of active.values()) t.transfer?.abort();
      // Transfers still looking up their file see `closing` and close what they opened.
      while (pending.size > 0) await Promise.allSettled([...pending]);
      await pool?.close();
    })();
    return closing;
  };
  deps.signal?.addEventListener('abort', () => void close(), { once: true });
  if (deps.signal?.aborted) void close();
  log.info({ address: main.local, engine: native ? 'native' : 'js', workers: pool ? workers : 0 }, 'tftp: listening');
  return {
    address: main.local,
    engine: native ? 'native' : 'js',
    get activeTransfers() {
      return active.size;
    },
    get waitingRequests() {
      return waiting.size;
    },
    close,
  };
}

/** The native runner when `engine` asks for it and the addon loads; null (after one warning if it was asked for) otherwise. */
function startNativeEngine(
  engine: 'native' | 'js',
  nice: number,
  sockets: DatagramSocketFactory,
  log: Logger,
): TftpTransferRunner | null {
  if (engine !== 'native') return null;
  const loaded = loadTftpPump();
  if ('addon' in loaded) return nativeTransferRunner(loaded.addon, sockets, log, nice);
  // Slower but correct: network boot must not stop because a build step was skipped.
  log.warn({ reason: loaded.reason }, 'tftp: native engine unavailable, transfers run in JS');
  return null;
}
