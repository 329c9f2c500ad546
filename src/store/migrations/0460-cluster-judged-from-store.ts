import type { Kysely } from 'kysely';

// The elected `silent-hosts` and `boot-stalls` roles judge from the store (docs/adr/0013):
// host_health.unreachable: 1 from the host.unreachable event until the next heartbeat (the holder sets it in the
//   event's transaction, only while the row's last_seen_at is the one it judged; a member that hears the host
//   clears it in the host.reachable event's transaction), so each fact is one event whichever member saw it.
// boot_sessions.stall_reported: the session's progress time (ISO) a boot.stalled event was written for; members
//   that write the session's row leave it alone, so a stall is reported once per progress point.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('host_health')
    .addColumn('unreachable', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // The silent-hosts holder's read every check: the rows not marked, oldest last-seen first.
  await db.schema
    .createIndex('host_health_silent')
    .on('host_health')
    .columns(['unreachable', 'last_seen_at'])
    .execute();
  await db.schema.alterTable('boot_sessions').addColumn('stall_reported', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('boot_sessions').dropColumn('stall_reported').execute();
  await db.schema.dropIndex('host_health_silent').ifExists().execute();
  await db.schema.alterTable('host_health').dropColumn('unreachable').execute();
}
