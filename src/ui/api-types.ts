// The JSON the UI reads from the API (the parts it shows). The API's TypeBox
// schemas are the contract; these are the views of them the pages render.
import type { Static } from '@sinclair/typebox';
import type { HealthReply } from '../heartbeat/heartbeat-schemas.js';
import type { HostReply } from '../inventory/host-schemas.js';

export type HostView = Static<typeof HostReply>;

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
export type HealthView = Static<typeof HealthReply>;

/** A host whose heartbeat stopped (not an API reply: the heartbeat service's memory, see UiDeps). */
export interface UnreachableView {
  hostName: string;
  lastSeenAt: string;
  lastIp: string;
}

/** GET /api/v1/health/details (docs/doctor.md). */
export interface DoctorView {
  status: 'ok' | 'warn' | 'fail';
  at: string;
  checks: Array<{ name: string; status: 'ok' | 'warn' | 'fail'; detail: string; fix?: string; ms: number }>;
}
