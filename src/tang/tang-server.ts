// Kiln's Tang server (issue 15): the controller accepts TCP connections and
// runs Debian's tangd for each one with the socket as its stdin and stdout,
// as inetd or systemd's Accept=yes socket would. tangd answers /adv and
// /rec/<kid>; the McCallum-Relyea exchange means no key a client recovers
// ever crosses the wire and Tang stores nothing per client.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type { Logger } from '../log/logger.js';
import { TANGD } from './tang-keys.js';

/** What nodes need to bind a LUKS volume to Kiln's Tang: its URL and the signing key's thumbprint. */
export interface TangAdvert {
  url: string;
  thumbprint: string;
}

/** Whether Kiln's Tang serves (with what nodes pin), or why LUKS plans are refused. */
export type TangState = ({ kind: 'ready' } & TangAdvert) | { kind: 'off'; why: string };

export interface TangServerOptions {
  host: string;
  port: number;
  /** Tang's key directory (ensureTangKeys). */
  keysDir: string;
  log: Logger;
  /** Default /usr/libexec/tangd. */
  tangd?: string;
  /** tangd processes at once; a connection beyond them is closed at once (default 32). */
  maxConnections?: number;
  /** A tangd still running after this is killed with its connection (default 10 s). */
  connectionTimeoutMs?: number;
}

export interface RunningTang {
  /** The bound port (the one asked for, or the kernel's choice for 0). */
  port: number;
  /** Stops accepting, kills every tangd still running (by PID) and waits for them. */
  close: () => Promise<void>;
  /** tangd processes running now. */
  active: () => number;
}

/**
 * Listens on host:port and serves Tang, one tangd per connection. Never
 * throws after it listens: a tangd that cannot start, exits non-zero or
 * runs too long is logged and its connection closed. Rejects when the
 * address cannot be bound (the caller reports it as a start-up failure).
 */
export async function startTang(o: TangServerOptions): Promise<RunningTang> {
  const tangd = o.tangd ?? TANGD;
  const max = o.maxConnections ?? 32;
  const timeoutMs = o.connectionTimeoutMs ?? 10_000;
  /** Each running tangd and a promise that settles when it is done with (closed, or failed to start). */
  const children = new Map<ChildProcess, Promise<void>>();
  let refusedAt = 0;
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => {
    // A client that resets is tangd's business (it sees EOF or EPIPE); the controller's copy only logs it.
    socket.on('error', (err) =>
      o.log.debug({ err: err.message, from: socket.remoteAddress }, 'tang: connection error'),
    );
    if (children.size >= max) {
      // At most one warning a minute: a flood must not flood the log too.
      if (Date.now() - refusedAt > 60_000)
        o.log.warn({ max, from: socket.remoteAddress }, 'tang: too many connections at once; closing new ones');
      refusedAt = Date.now();
      socket.destroy();
      return;
    }
    let child: ChildProcess;
    try {
      // The socket (paused: the controller never reads it) is tangd's stdin and stdout; stderr is its request log.
      child = spawn(tangd, [o.keysDir], { stdio: [socket, socket, 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'tang: tangd could not be started');
      socket.destroy();
      return;
    }
    let finished: () => void = () => {};
    children.set(child, new Promise<void>((r) => (finished = r)));
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      children.delete(child);
      socket.destroy();
      finished();
    };
    child.on('error', (err) => {
      o.log.warn({ err: err.message, tangd }, 'tang: tangd could not be started');
      done();
    });
    child.on('close', (code, signal) => {
      done();
      const line = stderr.trim().split('\n').at(-1) ?? '';
      if (code === 0) o.log.debug({ from: socket.remoteAddress, request: line }, 'tang: request served');
      else
        o.log.warn(
          { from: socket.remoteAddress, code, signal, stderr: line },
          signal === 'SIGKILL' ? `tang: tangd ran longer than ${timeoutMs} ms; killed` : 'tang: tangd failed',
        );
    });
  });
  server.on('error', (err) => o.log.warn({ err: err.message }, 'tang: server error'));
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error) => reject(err);
    server.once('error', fail);
    server.listen(o.port, o.host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  o.log.info({ host: o.host, port, keysDir: o.keysDir }, 'tang server listening');
  return {
    port,
    active: () => children.size,
    close: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      const exits = [...children.values()];
      for (const c of children.keys()) c.kill('SIGKILL');
      await Promise.all([closed, ...exits]);
    },
  };
}
