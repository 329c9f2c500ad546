/**
 * Prometheus metrics of one controller: its own registry (no global state),
 * filled from the data plane (DHCP packet outcomes, TFTP transfers, HTTP
 * requests) and read from the store on each scrape (hosts by state, active
 * leases). Served at GET /metrics (viewer role).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the DHCP server counts (`DhcpServer.stats`). */
export interface DhcpCounts {
  received: number;
  replied: number;
  ignored: number;
  malformed: number;
  failed: number;
  /** Dropped unanswered by admission control (queue full, or waited past its age limit). */
  shed: number;
  /** REQUESTs answered for a dead member of the store (absent: not reported; docs/cluster.md). */
  takenOver?: number;
  /** Datagrams waiting in the admission queue now (absent: not reported). */
  queued?: number;
  /** The admission queue's capacity (`dhcp.queueLimit`). */
  queueLimit?: number;
}

/** The data plane's load now, as the servers report it (null: that server is not running). */
export interface DataPlaneLoad {
  dhcp: DhcpCounts | null;
  tftpActive: number | null;
  tftpLimit: number | null;
}

/** Store reads done at scrape time. */
export interface MetricsSources {
  /** Count per state; every state in `hostStates` is reported, 0 when absent. */
  hostsByState?: () => Promise<Record<string, number>>;
  hostStates?: readonly string[];
  activeLeases?: () => Promise<Array<{ subnet: string; state: string; count: number }>>;
  /** Hook deliveries by status in the shared store (`pending` is the queue depth). */
  hookDeliveries?: () => Promise<Record<string, number>>;
  /** The boot waiting room now: machines loading a kernel from this controller, and machines queued for a slot. */
  bootQueue?: () => { loading: number; waiting: number };
}

export interface Metrics {
  readonly registry: Registry;
  /** One answered HTTP request; `route` is the route pattern (bounded), not the URL. */
  observeHttp(method: string, route: string, status: number, seconds: number): void;
  /** One finished TFTP transfer. */
  observeTftp(outcome: string, bytes: number, seconds: number): void;
  /** Where DHCP counts and TFTP's active transfers are read at scrape time (the servers start after the app). */
  watchDhcp(counts: () => DhcpCounts): void;
  watchTftp(active: () => number, limit?: number): void;
  /** What the watched servers report now (admission control of batch power-on reads it). */
  dataPlane(): DataPlaneLoad;
  /** One send or receive error of a boot server's socket (`server`: dhcp, tftp), by errno. */
  observeSocketError(server: string, op: 'send' | 'receive', errno: string): void;
  /** A boot server's socket died and was re-opened (`reopened`) or could not be (`failed`). */
  observeSocketReopen(server: string, outcome: 'reopened' | 'failed'): void;
  /** One syslog receiver event (`received`, `defective`, `unknown_sender`, `queue_full`, …; a bounded set). */
  countSyslog(event: string): void;
  /** One hook delivery attempt ended: `delivered`, `failed` (retried later) or `dead`. */
  countHookDelivery(outcome: 'delivered' | 'failed' | 'dead'): void;
  /** One self-check result (src/doctor): its status now, and whether it just turned to fail (counted once per transition). */
  observeCheck(check: string, status: 'ok' | 'warn' | 'fail', turnedFailed: boolean): void;
}

const DHCP_OUTCOMES = ['replied', 'ignored', 'malformed', 'failed', 'shed'] as const;

export function createMetrics(sources: MetricsSources = {}, opts: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  let dhcp: (() => DhcpCounts) | null = null;
  let tftpActive: (() => number) | null = null;
  let tftpLimit: number | null = null;

  const http = new Counter({
    name: 'kiln_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpSeconds = new Histogram({
    name: 'kiln_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route pattern.',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
    registers: [registry],
  });
  /** `http` and `httpSeconds` children by method, route and status (bounded: route patterns and status codes). */
  const httpChildren = new Map<string, { count: { inc(): void }; seconds: { observe(v: number): void } }>();
  new Counter({
    name: 'kiln_dhcp_packets_total',
    help: 'DHCP datagrams received, by outcome: replied, ignored (not for this server or mode), malformed (dropped), failed (store or backend error; the client retries), shed (dropped unanswered by admission control under overload).',
    labelNames: ['outcome'] as const,
    registers: [registry],
    collect() {
      if (!dhcp) return;
      const s = dhcp();
      this.reset();
      for (const o of DHCP_OUTCOMES) this.inc({ outcome: o }, s[o]);
    },
  });
  new Counter({
    name: 'kiln_dhcp_takeovers_total',
    help: "DHCP REQUESTs this controller answered (ACK or NAK) for a dead member of its store: the client had taken that member's offer (docs/cluster.md).",
    registers: [registry],
    collect() {
      const n = dhcp?.().takenOver;
      if (n === undefined) return;
      this.reset();
      this.inc(n);
    },
  });
  new Gauge({
    name: 'kiln_dhcp_queue_depth',
    help: 'DHCP datagrams waiting in the admission queue now (read, not yet handled).',
    registers: [registry],
    collect() {
      const q = dhcp?.().queued;
      if (q !== undefined) this.set(q);
    },
  });
  const socketErrors = new Counter({
    name: 'kiln_socket_errors_total',
    help: "Send and receive errors of the boot servers' sockets, by server (dhcp, tftp), operation (send, receive) and errno (ENETUNREACH, ENOBUFS, …).",
    labelNames: ['server', 'op', 'errno'] as const,
    registers: [registry],
  });
  const socketReopens = new Counter({
    name: 'kiln_socket_reopens_total',
    help: 'Boot-server sockets that died, by server and outcome: reopened, or failed (the controller then stops).',
    labelNames: ['server', 'outcome'] as const,
    registers: [registry],
  });
  const syslog = new Counter({
    name: 'kiln_syslog_total',
    help: 'Syslog receiver events: received, defective (kept raw), unknown_sender (kept), queue_full and store_failed (dropped), connection_refused, connection_framing_error, connection_idle.',
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const tftp = new Counter({
    name: 'kiln_tftp_transfers_total',
    help: 'TFTP transfers ended, by outcome (complete, timeout, peer_error, aborted, read_error).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const tftpBytes = new Counter({
    name: 'kiln_tftp_sent_bytes_total',
    help: 'Bytes of files sent by completed TFTP transfers.',
    registers: [registry],
  });
  const tftpSeconds = new Histogram({
    name: 'kiln_tftp_transfer_duration_seconds',
    help: 'Duration of completed TFTP transfers.',
    buckets: [0.01, 0.1, 0.5, 1, 5, 30, 120],
    registers: [registry],
  });
  new Gauge({
    name: 'kiln_tftp_active_transfers',
    help: 'TFTP transfers running now.',
    registers: [registry],
    collect() {
      if (tftpActive) this.set(tftpActive());
    },
  });
  if (sources.hostsByState) {
    const read = sources.hostsByState;
    new Gauge({
      name: 'kiln_hosts',
      help: 'Hosts in the inventory, by lifecycle state.',
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        const counts = await read();
        this.reset();
        for (const state of new Set([...(sources.hostStates ?? []), ...Object.keys(counts)]))
          this.set({ state }, counts[state] ?? 0);
      },
    });
  }
  if (sources.activeLeases) {
    const read = sources.activeLeases;
    new Gauge({
      name: 'kiln_dhcp_active_leases',
      help: 'Unexpired DHCP leases in the shared store, by subnet and state (bound, declined).',
      labelNames: ['subnet', 'state'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const r of await read()) this.set({ subnet: r.subnet, state: r.state }, r.count);
      },
    });
  }
  const hookAttempts = new Counter({
    name: 'kiln_hook_deliveries_total',
    help: 'Hook delivery attempts by this controller, by outcome: delivered, failed (retried later), dead (no attempt left).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  if (sources.bootQueue) {
    const read = sources.bootQueue;
    new Gauge({
      name: 'kiln_boot_loading_machines',
      help: 'Machines of the boot waiting room (boot.max-loading) by state: loading their kernel from this controller, or queued for a slot.',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const q = read();
        this.set({ state: 'loading' }, q.loading);
        this.set({ state: 'queued' }, q.waiting);
      },
    });
  }
  if (sources.hookDeliveries) {
    const read = sources.hookDeliveries;
    new Gauge({
      name: 'kiln_hook_queue',
      help: 'Hook deliveries in the shared store, by status: pending (the queue depth), delivered and dead (history kept).',
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        const counts = await read();
        this.reset();
        for (const status of ['pending', 'delivered', 'dead']) this.set({ status }, counts[status] ?? 0);
      },
    });
  }
  const checkStatus = new Gauge({
    name: 'kiln_check_status',
    help: 'Self-check status by check (src/doctor, `kiln doctor`): 0 ok, 1 warn, 2 fail.',
    labelNames: ['check'] as const,
    registers: [registry],
  });
  const checkFailures = new Counter({
    name: 'kiln_check_failures_total',
    help: 'Self-checks that turned to fail, by check (once per transition, as the controller.check_failed event).',
    labelNames: ['check'] as const,
    registers: [registry],
  });
  return {
    registry,
    observeHttp(method, route, status, seconds) {
      // Once per answered request (the boot scripts' thousands a second): the label children are looked up once.
      const key = `${method} ${route} ${status}`;
      let child = httpChildren.get(key);
      if (child === undefined) {
        if (httpChildren.size >= 1000) httpChildren.clear();
        child = { count: http.labels(method, route, String(status)), seconds: httpSeconds.labels(route) };
        httpChildren.set(key, child);
      }
      child.count.inc();
      child.seconds.observe(seconds);
    },
    observeTftp(outcome, bytes, seconds) {
      tftp.inc({ outcome });
      if (outcome === 'complete') {
        tftpBytes.inc(bytes);
        tftpSeconds.observe(seconds);
      }
    },
    watchDhcp(counts) {
      dhcp = counts;
    },
    watchTftp(active, limit) {
      tftpActive = active;
      tftpLimit = limit ?? null;
    },
    dataPlane: () => ({ dhcp: dhcp?.() ?? null, tftpActive: tftpActive?.() ?? null, tftpLimit }),
    // errno is a short kernel name (bounded set); anything else is folded so labels stay bounded.
    observeSocketError(server, op, errno) {
      socketErrors.inc({ server, op, errno: /^E[A-Z0-9_]{1,30}$/.test(errno) ? errno : 'OTHER' });
    },
    observeSocketReopen(server, outcome) {
      socketReopens.inc({ server, outcome });
    },
    countSyslog(event) {
      syslog.inc({ event });
    },
    countHookDelivery(outcome) {
      hookAttempts.inc({ outcome });
    },
    observeCheck(check, status, turnedFailed) {
      checkStatus.set({ check }, status === 'ok' ? 0 : status === 'warn' ? 1 : 2);
      if (turnedFailed) checkFailures.inc({ check });
    },
  };
}
