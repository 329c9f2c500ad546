// The recorded files of Kiln's node image (node_image_files, migration 0481; docs/adr/0016-node-image-between-members.md).
import type { Kysely } from 'kysely';
import type { NodeImageTables } from './node-image-tables.js';

/** One file of one node image version as recorded by the first member that had it. */
export interface NodeImageFile {
  version: string;
  /** `vmlinuz` or `initrd.img`. */
  file: string;
  arch: string;
  /** Bytes. */
  size: number;
  /** 64 lower-case hex digits. */
  sha256: string;
  /** The recording member's name. */
  recordedBy: string;
  recordedAt: string;
}

/**
 * Records a version's files in one statement (so a version is recorded whole or not at all). A version recorded
 * already is left as it was: the first member's bytes are the record, whatever a later member built.
 */
export async function putNodeImageFiles(db: Kysely<NodeImageTables>, files: readonly NodeImageFile[]): Promise<void> {
  if (files.length === 0) return;
  await db
    .insertInto('node_image_files')
    .values(
      files.map((f) => ({
        version: f.version,
        file: f.file,
        arch: f.arch,
        size: f.size,
        sha256: f.sha256,
        recorded_by: f.recordedBy,
        recorded_at: f.recordedAt,
      })),
    )
    .onConflict((oc) => oc.columns(['version', 'file']).doNothing())
    .execute();
}

/** The recorded files of one version; empty when it was never recorded. */
export async function listNodeImageFiles(db: Kysely<NodeImageTables>, version: string): Promise<NodeImageFile[]> {
  const rows = await db.selectFrom('node_image_files').selectAll().where('version', '=', version).execute();
  return rows.map((r) => ({
    version: r.version,
    file: r.file,
    arch: r.arch,
    size: Number(r.size),
    sha256: r.sha256,
    recordedBy: r.recorded_by,
    recordedAt: r.recorded_at,
  }));
}

/** The version recorded last (by its record time; ties by version), or null when none is. */
export async function getNewestNodeImageVersion(
  db: Kysely<NodeImageTables>,
): Promise<{ version: string; arch: string } | null> {
  const r = await db
    .selectFrom('node_image_files')
    .select(['version', 'arch'])
    .orderBy('recorded_at', 'desc')
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r ?? null;
}
