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

/** How often retention runs (also once at start). */
const PRUNE_INTERVAL_MS = 3_600_000;

export async function startSyslog(opts: {
  config: SyslogConfig;
  service: SyslogService;
  metrics?: Pick<Metrics, 'observeSocketError'>;
  log: Logger;
}): Promise<SyslogReceiver> {
  const { config, service, log } = opts;
  const socketError = createSocketErrorLog({
    server: 'syslog',
    log,
    count: (server, op, errno) => opts.metrics?.observeSocketError(server, op, errno),
  });
  const receiver = await startSyslogReceiver({
    config,
    bindUdp: udpSocketFactory({
      onError: (err, op, local) => socketError(err, op, { port: local.port }),
      // Not re-opened (yet): the receiver stays down until restart; said loudly.
      onDeath: (err, local) =>
        log.error(
          { errno: err.code, port: local.port },
          'syslog: UDP socket died; syslog over UDP stops until restart',
        ),
    }),
    accept: (bytes, ip, truncated) => service.accept(bytes, ip, truncated),
    count: (what) => service.count(what),
    log,
  });
  const prune = () =>
    service.prune().then(
      (n) => n > 0 && log.info({ deleted: n }, 'syslog: pruned by retention'),
      (err: unknown) => log.warn({ err: (err as Error).message }, 'syslog: prune failed'),
    );
  void prune();
  const timer = setInterval(() => void prune(), PRUNE_INTERVAL_MS);
  timer.unref();
  log.info(
    { address: config.address, port: receiver.udp.local.port, tcp: receiver.tcpPort },
    'syslog receiver listening',
  );
  return {
    ...receiver,
    async close() {
      clearInterval(timer);
      await receiver.close();
      await service.flush();
    },
  };
}
