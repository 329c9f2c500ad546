// The JSON the UI reads from the API (the parts it shows). The API's TypeBox
// schemas are the contract; these are the views of them the pages render.

export interface HostView {
  id: string;
  name: string;
  state: string;
  stateReason: string | null;
  failedStage: string | null;
  profile: string | null;
  firmware: string | null;
  nics: Array<{ mac: string; name: string | null; boot: boolean }>;
  tags: string[];
  labels: Record<string, string>;
  facts: Record<string, unknown>;
  hardwareHash: string | null;
  needsAttention: boolean;
  bmc: { driver: string; address: string | null } | null;
  version: number;
  updatedAt: string;
}

export interface EventView {
  seq: number;
  at: string;
  actor: string;
  kind: string;
  hostId: string | null;
  subject: string | null;
  message: string;
  reason: string | null;
  data: unknown;
}

export interface SessionView {
  session: string;
  startedAt: string;
  updatedAt: string;
  firmware: string;
  purpose: string;
  reached: string | null;
  expected: string | null;
  status: string;
  summary: string;
}

export interface TimelineView extends SessionView {
  stages: Array<{ at: string; stage: string; outcome: string; detail: string }>;
}

export interface LogLineView {
  id: number;
  receivedAt: string;
  severity: number;
  hostname: string | null;
  app: string | null;
  text: string;
  sessionId: string | null;
}

export interface LeaseView {
  ip: string;
  mac: string;
  subnet: string;
  hostname: string | null;
  state: string;
  expiresAt: string;
  active: boolean;
}

export interface ProfileView {
  name: string;
  [key: string]: unknown;
}

export interface DeploymentView {
  id: string;
  profile: string;
  files: string[];
  createdAt?: string;
  current?: boolean;
  /** While the host deploys: the installer's read-only status page on the node (node/agent/status.sh). */
  statusUrl?: string;
}

export interface PowerView {
  state?: string | null;
  capabilities?: { powerActions?: string[] };
}

/** GET /api/v1/hosts/{host}/health (docs/heartbeat.md). */
export interface HealthView {
  status: 'never' | 'ok' | 'late' | 'unreachable';
  intervalSeconds: number;
  missedIntervals: number;
  lastSeenAt: string | null;
  lastIp: string | null;
  bootedAt: string | null;
  report: {
    bootId: string;
    uptimeSeconds: number;
    kernel: string;
    load: number[];
    memory: { totalBytes: number; availableBytes: number } | null;
    disks: Array<{ mount: string; sizeBytes: number; usedBytes: number }>;
    failedUnits: string[] | null;
    machineChecks: number | null;
    edac: { correctable: number; uncorrectable: number } | null;
    smart: Array<{ device: string; passed: boolean | null; reallocatedSectors: number | null }> | null;
    session: string | null;
  } | null;
  hardware: { hash: string | null; auditedAt: string | null };
}

/** GET /api/v1/health/details (docs/doctor.md). */
export interface DoctorView {
  status: 'ok' | 'warn' | 'fail';
  at: string;
  checks: Array<{ name: string; status: 'ok' | 'warn' | 'fail'; detail: string; fix?: string; ms: number }>;
}
