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
}

export interface PowerView {
  state?: string | null;
  capabilities?: { powerActions?: string[] };
}
