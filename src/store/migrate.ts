import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extname, join } from 'node:path';
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { KilnError } from '../error/kiln-error.js';

const migrationsDir = join(fileURLToPath(new URL('.', import.meta.url)), 'migrations');
// The migrations' extension is this module's: .ts under tsx, .js when compiled into dist/.
const ext = extname(fileURLToPath(import.meta.url));

/**
 * Loads every `migrations/NNNN-name.ts` file (`.js` when compiled). Domains own their migration
 * files, applied in name order: 0001–0099 inventory, rules, node trust and
 * deployments, SSH certificates, users, the enrolment retry (0011), a repeated completion (0012), a repeated last progress report (0013); 0100–0199 DHCP leases; 0200–0299
 * deploy (install tokens); 0300–0309 syslog; 0310–0319 boot timeline; 0320–0329 hooks; 0340–0349 host list indexes and documents (the stale-document index, 0341); 0350–0359 heartbeat; 0370–0379 node self-tests; 0400–0409 stateless identity requests; 0410–0419 controller members and singleton roles (each member's published load, 0411); 0420–0429 DHCP leases (storage layout); 0460–0469 cluster roles judged from the store and rate counters across controllers; 0470–0479 member CAs, join tokens and the data key check; 0480–0489 content shared between members and failover of the machines across them (each member's node API URL and CA; the node image's files, 0481; the DHCP server identifiers a live member answers for once that member is dead, 0482; each member's repo public key, 0483; what each member's repo subset serves, 0484). A new file takes the next free number in its range.
 */
export const fileMigrationProvider: MigrationProvider = {
  async getMigrations() {
    const out: Record<string, Migration> = {};
    const files = readdirSync(migrationsDir)
      .filter((f) => /^\d{4}-/.test(f) && f.endsWith(ext) && !f.endsWith(`.test${ext}`))
      .sort();
    for (const f of files) {
      out[f.slice(0, -ext.length)] = (await import(join(migrationsDir, f))) as Migration;
    }
    return out;
  },
};

/** Applies every pending migration; throws `store_unavailable` naming the failed one. */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: fileMigrationProvider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    throw new KilnError(
      'store_unavailable',
      `database migration ${failed?.migrationName ?? '(unknown)'} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
      { cause: error },
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Names of the migrations this build has that the store has not applied (the self-check's `store` check). */
export async function pendingMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: fileMigrationProvider, allowUnorderedMigrations: true });
  return (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}
