import type { Kysely } from 'kysely';

// Syslog lines moved out of the inventory's database into their own log store
// (src/syslog/log-store.ts, docs/adr/0010-separate-syslog-log-store.md), so a
// flood never queues lease or host writes. The lines kept here by 0300 are not
// carried over: the receiver had not been released, and logs are bounded anyway.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('syslog_messages').ifExists().execute();
}

// Down re-creates nothing: 0300's down drops the table, which no longer exists.
export async function down(): Promise<void> {}
