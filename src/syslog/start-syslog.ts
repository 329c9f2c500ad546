/**
 * Starts the syslog receiver for `kiln serve`: real UDP through the shared
 * datagram module (every socket error logged rate-limited and counted), TCP,
 * and the hourly retention prune. Closing stops the listeners and writes the
 * queued messages.
 */
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { createSocketErrorLog } from '../net/datagram/socket-error-log.js';
import { udpSocketFactory } from '../net/datagram/udp-socket.js';
import type { SyslogConfig } from './syslog-config.js';
import { startSyslogReceiver, type SyslogReceiver } from './syslog-receiver.js';
import type { SyslogService } from './syslog-service.js';

/** How often the size and age bounds are enforced (also once at start); the per-host bound runs every 120th time (hourly). */
const PRUNE_INTERVAL_MS = 30_000;
const PER_HOST_EVERY = 120;

export async function startSyslog(opts: {
  config: SyslogConfig;
  service: SyslogService;
  metrics?: Pick<Metrics, 'observeSocketError' | 'observeSocketReopen'>;
  log: Logger;
}): Promise<SyslogReceiver> {
  const { config, service, log } = opts;
  const socketError = createSocketErrorLog({
    server: 'syslog',
    log,
    count: (server, op, errno) => opts.metrics?.observeSocketError(server, op, errno),
  });
  // Set once the receiver exists; a socket cannot die before it is bound.
  const dead: { reopen?: (err: NodeJS.ErrnoException) => void } = {};
  const receiver = await startSyslogReceiver({
    config,
    bindUdp: udpSocketFactory({
      onError: (err, op, local) => socketError(err, op, { port: local.port }),
      onDeath: (err) => dead.reopen?.(err),
    }),
    accept: (bytes, ip, truncated) => service.accept(bytes, ip, truncated),
    count: (what) => {
      service.count(what);
      if (what === 'socket_reopened') opts.metrics?.observeSocketReopen('syslog', 'reopened');
      if (what === 'socket_failed') opts.metrics?.observeSocketReopen('syslog', 'failed');
    },
    log,
  });
  dead.reopen = (err) => void receiver.reopenUdp(err);
  let runs = 0;
  let pruning: Promise<unknown> | null = null;
  const prune = () => {
    // One pass at a time: a slow one is not stacked under the next tick.
    if (pruning) return;
    const perHost = runs++ % PER_HOST_EVERY === 0;
    pruning = service.prune({ perHost }).then(
      (n) => n > 0 && log.info({ deleted: n }, 'syslog: pruned by retention'),
      (err: unknown) => log.warn({ err: (err as Error).message }, 'syslog: prune failed'),
    );
    void pruning.finally(() => (pruning = null));
  };
  void prune();
  const timer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
  timer.unref();
  log.info(
    { address: config.address, port: receiver.udp.local.port, tcp: receiver.tcpPort },
    'syslog receiver listening',
  );
  return {
    get udp() {
      return receiver.udp;
    },
    tcpPort: receiver.tcpPort,
    reopenUdp: (cause) => receiver.reopenUdp(cause),
    async close() {
      clearInterval(timer);
      await receiver.close();
      await pruning;
      await service.flush();
    },
  };
}
