import type { AuthTables } from './auth/auth-tables.js';
import { authColumns } from './auth/auth-tables.js';
import type { LeaseTables } from './boot/dhcp/lease-tables.js';
import { leaseColumns } from './boot/dhcp/lease-tables.js';
import type { DeployTables } from './deploy/deploy-tables.js';
import { deployColumns } from './deploy/deploy-tables.js';
import type { EventTables } from './event/event-tables.js';
import { eventColumns } from './event/event-tables.js';
import type { HookTables } from './hook/hook-tables.js';
import { hookColumns } from './hook/hook-tables.js';
import type { InventoryTables } from './inventory/inventory-tables.js';
import { inventoryColumns } from './inventory/inventory-tables.js';
import type { NodeTables } from './node/node-tables.js';
import { nodeColumns } from './node/node-tables.js';
import type { RuleTables } from './rule/rule-tables.js';
import { ruleColumns } from './rule/rule-tables.js';
import type { SshTables } from './ssh/ssh-tables.js';
import { sshColumns } from './ssh/ssh-tables.js';
import type { TimelineTables } from './timeline/timeline-tables.js';
import { timelineColumns } from './timeline/timeline-tables.js';
import type { HeartbeatTables } from './heartbeat/health-tables.js';
import { heartbeatColumns } from './heartbeat/health-tables.js';
import type { SelfTestTables } from './selftest/self-test-tables.js';
import { selfTestColumns } from './selftest/self-test-tables.js';
import type { ClusterTables } from './cluster/cluster-tables.js';
import { clusterColumns } from './cluster/cluster-tables.js';
import type { RateTables } from './ratelimit/rate-tables.js';
import { rateColumns } from './ratelimit/rate-tables.js';
import type { MemberTrustTables } from './cluster/member-trust-tables.js';
import { memberTrustColumns } from './cluster/member-trust-tables.js';
import type { NodeImageTables } from './discovery/node-image-tables.js';
import { nodeImageColumns } from './discovery/node-image-tables.js';
import type { TableColumns } from './store/columns.js';

/**
 * Every table of Kiln's store, as Kysely sees it. Each domain declares the
 * tables it owns in its own `*-tables.ts`; a store that needs only its own
 * takes the narrower `Kysely<XTables>` (a `Kysely<Database>` is one).
 * `schema.test.ts` fails when this and the migrations drift apart.
 */
export type Database = InventoryTables &
  EventTables &
  AuthTables &
  RuleTables &
  NodeTables &
  DeployTables &
  SshTables &
  LeaseTables &
  TimelineTables &
  HookTables &
  HeartbeatTables &
  SelfTestTables &
  ClusterTables &
  RateTables &
  MemberTrustTables &
  NodeImageTables;

/** Every table's columns at run time (see `ColumnSpec`), checked against `Database` by the compiler. */
export const databaseColumns = {
  ...inventoryColumns,
  ...eventColumns,
  ...authColumns,
  ...ruleColumns,
  ...nodeColumns,
  ...deployColumns,
  ...sshColumns,
  ...leaseColumns,
  ...timelineColumns,
  ...hookColumns,
  ...heartbeatColumns,
  ...selfTestColumns,
  ...clusterColumns,
  ...rateColumns,
  ...memberTrustColumns,
  ...nodeImageColumns,
} satisfies TableColumns<Database>;

// A table in a domain's column list but missing from `Database` fails here.
const noExtraTables: Record<Exclude<keyof typeof databaseColumns, keyof Database>, never> = {};
void noExtraTables;
