/**
 * The heartbeat's health model (issue 14), pure: what one heartbeat does to a
 * host's last-known health, when a silent host counts as unreachable, and
 * when its hardware is due for a re-audit. No clock, no I/O: every function
 * takes the time (ms since the epoch) and returns new values; the service
 * (heartbeat-service.ts) keeps the state, the store and the events.
 */

/** What an installed host's agent reports each interval (the node API body without facts and KRL digest). */
export interface HealthReport {
  /** The kernel's boot id (/proc/sys/kernel/random/boot_id): a new one is a reboot. */
  bootId: string;
  uptimeSeconds: number;
  kernel: string;
  /** 1, 5 and 15 minute load averages. */
  load: number[];
  memory: { totalBytes: number; availableBytes: number } | null;
  /** Disk use per mounted block-device filesystem. */
  disks: Array<{ mount: string; sizeBytes: number; usedBytes: number }>;
  /** systemd's failed units; null where the system has no systemd. */
  failedUnits: string[] | null;
  /** Machine-check events the kernel logged this boot; null where unreadable. */
  machineChecks: number | null;
  /** EDAC memory-controller error counts; null without EDAC. */
  edac: { correctable: number; uncorrectable: number } | null;
  /** smartctl's overall verdict per disk; null without smartctl. */
  smart: Array<{ device: string; passed: boolean | null; reallocatedSectors: number | null }> | null;
  /** The Kiln boot session the host booted under (kiln.session=), when its kernel command line names one. */
  session: string | null;
  agentVersion: number;
}

/** A host's last-known health, as the controller keeps it (in memory, flushed to the store in batches). */
export interface HostHealth {
  hostId: string;
  hostName: string;
  /** When the last heartbeat arrived (ms). */
  lastSeenAt: number;
  lastIp: string;
  report: HealthReport;
  /** True from the `host.unreachable` event until the next heartbeat. */
  unreachable: boolean;
  /** When the host's facts were last re-audited (ms), and under which boot; null: never. */
  auditedAt: number | null;
  auditedBootId: string | null;
  /** The hardware hash of the last re-audit (the same function as discovery's). */
  hardwareHash: string | null;
}

/** What one heartbeat changed that the event log must say. */
export type HealthChange =
  | { kind: 'host.rebooted'; previousBootId: string; previousLastSeenAt: number }
  | { kind: 'host.reachable'; silentMs: number };

/** Heartbeat timing: the interval the controller asks for and how many may be missed. */
export interface HeartbeatRules {
  intervalMs: number;
  missedIntervals: number;
  /** A re-audit of the hardware is due after this long (and on every new boot). */
  auditMs: number;
}

/** The health after heartbeat `report` from `ip` at `at`, and the events it makes (reboot, return). */
export function receiveHeartbeat(
  prev: HostHealth | undefined,
  host: { id: string; name: string },
  report: HealthReport,
  ip: string,
  at: number,
): { next: HostHealth; changes: HealthChange[] } {
  const changes: HealthChange[] = [];
  if (prev && prev.report.bootId !== report.bootId)
    changes.push({ kind: 'host.rebooted', previousBootId: prev.report.bootId, previousLastSeenAt: prev.lastSeenAt });
  if (prev?.unreachable) changes.push({ kind: 'host.reachable', silentMs: at - prev.lastSeenAt });
  const next: HostHealth = {
    hostId: host.id,
    hostName: host.name,
    lastSeenAt: at,
    lastIp: ip,
    report,
    unreachable: false,
    auditedAt: prev?.auditedAt ?? null,
    auditedBootId: prev?.auditedBootId ?? null,
    hardwareHash: prev?.hardwareHash ?? null,
  };
  return { next, changes };
}

/** The health after a re-audit of its facts whose hardware hash is `hash`. */
export function audited(h: HostHealth, hash: string, at: number): HostHealth {
  return { ...h, auditedAt: at, auditedBootId: h.report.bootId, hardwareHash: hash };
}

/** True when the host should send its facts with its next heartbeat: never audited, a new boot, or `auditMs` passed. */
export function auditDue(h: HostHealth, rules: HeartbeatRules, at: number): boolean {
  return h.auditedAt === null || h.auditedBootId !== h.report.bootId || at - h.auditedAt >= rules.auditMs;
}

/**
 * True when the host has now missed `missedIntervals` heartbeats and was not
 * already reported: silence longer than that many intervals, counted from
 * its last heartbeat or from `watchFrom` (when this controller started
 * watching: heartbeats sent while it was down were not missed by the host).
 */
export function missedTooMany(h: HostHealth, rules: HeartbeatRules, at: number, watchFrom: number): boolean {
  return !h.unreachable && at - Math.max(h.lastSeenAt, watchFrom) > rules.missedIntervals * rules.intervalMs;
}

/** `ok` (heard within 1.5 intervals), `late` (silent longer, not yet unreachable) or `unreachable`. */
export function healthStatus(h: HostHealth, rules: HeartbeatRules, at: number): 'ok' | 'late' | 'unreachable' {
  if (h.unreachable) return 'unreachable';
  return at - h.lastSeenAt <= rules.intervalMs * 1.5 ? 'ok' : 'late';
}
