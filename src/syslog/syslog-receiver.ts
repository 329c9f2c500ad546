/**
 * The syslog listeners: UDP (one datagram = one message) on the shared
 * datagram socket module, and TCP with one RFC 6587 deframer per connection.
 * Each hands messages to `accept` and decides nothing else. A framing error,
 * an idle connection or one over the connection caps is dropped and counted;
 * every socket error is logged.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createSyslogDeframer } from '../protocols/syslog/deframe.js';
import type { DatagramSocket, DatagramSocketFactory } from '../net/datagram/datagram-socket.js';
import { REOPEN_DELAYS_MS, reopenWithBackoff } from '../net/datagram/reopen-socket.js';
import type { Logger } from '../log/logger.js';
import type { SyslogConfig } from './syslog-config.js';
import type { SyslogCount } from './syslog-service.js';

export interface SyslogReceiverDeps {
  config: Pick<SyslogConfig, 'address' | 'port' | 'tcp' | 'maxMessageBytes' | 'limits'>;
  /** Binds the UDP socket (real: udpSocketFactory with error reporting; tests: a memory socket). */
  bindUdp: DatagramSocketFactory;
  accept: (bytes: Uint8Array, sourceIp: string, truncated: boolean) => void;
  count: (what: SyslogCount) => void;
  log: Logger;
  /** Pauses before each re-open attempt of a dead UDP socket, per round (default REOPEN_DELAYS_MS, about 15 s). */
  reopenDelaysMs?: readonly number[];
  /** Rounds of re-open attempts before giving up (default 1440: a day at a minute per round). */
  reopenRounds?: number;
  /** Pause between rounds (default 60 s). */
  reopenRoundPauseMs?: number;
}

export interface SyslogReceiver {
  /** The UDP socket now (a new one after a re-open). */
  readonly udp: DatagramSocket;
  /**
   * The UDP socket died (ENODEV, EBADF: `udpSocketFactory`'s onDeath): closes it and binds a new
   * one on the same address and port with growing pauses, in rounds until it works or the
   * receiver closes. Counted (`socket_reopened`, `socket_failed` per failed round) and logged once
   * per round. Resolves when done (tests); a second call while one runs is ignored.
   */
  reopenUdp(cause: NodeJS.ErrnoException): Promise<void>;
  /** The TCP port bound (the OS's pick for port 0), or null without TCP. */
  tcpPort: number | null;
  close(): Promise<void>;
}

export async function startSyslogReceiver(deps: SyslogReceiverDeps): Promise<SyslogReceiver> {
  const { config, log } = deps;
  const max = config.maxMessageBytes;
  let udp = await deps.bindUdp({ address: config.address, port: config.port });
  const onDatagram = (bytes: Uint8Array, from: { address: string }) => {
    const truncated = bytes.length > max;
    deps.accept(truncated ? bytes.subarray(0, max) : bytes, from.address, truncated);
  };
  udp.receive(onDatagram);
  const stopping = new AbortController();
  let reopening: Promise<void> | null = null;

  async function reopenRounds(cause: NodeJS.ErrnoException): Promise<void> {
    const bind = { address: config.address, port: udp.local.port };
    udp.close();
    log.error({ errno: cause.code, port: bind.port }, 'syslog: UDP socket died; re-opening it');
    const rounds = deps.reopenRounds ?? 1440;
    for (let round = 1; round <= rounds && !stopping.signal.aborted; round++) {
      const pause = deps.reopenRoundPauseMs ?? 60_000;
      const delays = round === 1 ? (deps.reopenDelaysMs ?? REOPEN_DELAYS_MS) : [pause];
      try {
        const sock = await reopenWithBackoff(() => deps.bindUdp(bind), { delaysMs: delays, signal: stopping.signal });
        if (sock === null) return;
        sock.receive(onDatagram);
        udp = sock;
        deps.count('socket_reopened');
        log.warn({ port: bind.port, round }, 'syslog: UDP socket re-opened');
        return;
      } catch (err) {
        deps.count('socket_failed');
        // Once per round (seconds to a minute apart): rate-limited by construction.
        log.error(
          { err: (err as Error).message, errno: (err as NodeJS.ErrnoException).code, port: bind.port, round },
          'syslog: UDP socket could not be re-opened; trying again',
        );
      }
    }
    if (!stopping.signal.aborted)
      log.error({ port: bind.port }, 'syslog: UDP socket could not be re-opened; syslog over UDP stops until restart');
  }
  let server: Server | null = null;
  const open = new Set<Socket>();
  const perSource = new Map<string, number>();
  if (config.tcp) {
    server = createServer((sock) => handleConnection(sock));
    const s = server;
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        // The same port as UDP (with port 0, tests: the one the OS picked for UDP).
        s.listen(udp.local.port, config.address, () => {
          s.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    s.on('error', (err) => log.error({ err: err.message }, 'syslog: TCP listener error'));
  }

  function handleConnection(sock: Socket): void {
    const ip = sock.remoteAddress ?? 'unknown';
    sock.on('error', (err: NodeJS.ErrnoException) =>
      log.debug({ err: err.message, errno: err.code, peer: ip }, 'syslog: TCP connection error'),
    );
    const fromHere = perSource.get(ip) ?? 0;
    if (open.size >= config.limits.connections || fromHere >= config.limits.connectionsPerSource) {
      deps.count('connection_refused');
      log.debug({ peer: ip, open: open.size, fromHere }, 'syslog: TCP connection over the limits, closed');
      sock.destroy();
      return;
    }
    open.add(sock);
    perSource.set(ip, fromHere + 1);
    const deframer = createSyslogDeframer(max);
    sock.setTimeout(config.limits.idleSeconds * 1000, () => {
      deps.count('connection_idle');
      sock.destroy();
    });
    sock.on('data', (chunk: Buffer) => {
      const { frames, error } = deframer.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      for (const f of frames) deps.accept(f.bytes, ip, f.truncated);
      if (error) {
        deps.count('connection_framing_error');
        log.debug({ peer: ip, err: error.message }, 'syslog: TCP framing error, connection dropped');
        sock.destroy();
      }
    });
    sock.on('end', () => {
      for (const f of deframer.end()) deps.accept(f.bytes, ip, f.truncated);
      sock.end();
    });
    sock.on('close', () => {
      open.delete(sock);
      const n = (perSource.get(ip) ?? 1) - 1;
      if (n > 0) perSource.set(ip, n);
      else perSource.delete(ip);
    });
  }

  return {
    get udp() {
      return udp;
    },
    reopenUdp(cause) {
      if (stopping.signal.aborted) return Promise.resolve();
      reopening ??= reopenRounds(cause).finally(() => (reopening = null));
      return reopening;
    },
    tcpPort: server ? (server.address() as { port: number }).port : null,
    async close() {
      stopping.abort();
      await reopening;
      udp.close();
      if (!server) return;
      const s = server;
      for (const c of open) c.destroy();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}
