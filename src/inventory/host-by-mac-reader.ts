// The host-by-MAC readers of the DHCP hot path, for a thread that has no
// inventory service (the DHCP worker, src/boot/dhcp/dhcp-worker.ts).
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { Mac } from '../net/mac.js';
import type { HostByMacReader } from './inventory-service.js';
import { openSqliteHostByMacReader } from './sql-host-store.js';

/** The SQLite file's read-only reader (a WAL reader never waits for a writer); `file` must exist. */
export const openSqliteFileHostByMacReader = (file: string): HostByMacReader => openSqliteHostByMacReader(file);

/**
 * The same one-row query over `db` (PostgreSQL: a pool the caller owns and
 * closes), without the inventory service's cache: another controller may
 * change hosts at any time there.
 */
export function sqlHostByMacReader(db: Kysely<Database>): HostByMacReader {
  return {
    lookup: async (mac: Mac) => {
      const r = await db
        .selectFrom('host_nics as n')
        .innerJoin('hosts as h', 'h.id', 'n.host_id')
        .select(['h.id', 'h.state', 'h.name', 'h.labels'])
        .where('n.mac', '=', mac)
        .executeTakeFirst();
      return r
        ? { id: r.id, state: r.state, name: r.name, labels: JSON.parse(r.labels) as Record<string, string> }
        : null;
    },
    close: () => {},
  };
}
