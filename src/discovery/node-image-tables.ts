import type { TableColumns } from '../store/columns.js';

/**
 * `node_image_files` (migration 0481): one row per file of a version of Kiln's
 * node image, written once by the first member that had that version
 * (`recorded_by`, its member name); later members with the same version add
 * nothing. `size` in bytes (node-postgres reads int8 back as a string).
 */
interface NodeImageFilesTable {
  version: string;
  /** `vmlinuz` or `initrd.img`. */
  file: string;
  arch: string;
  size: number | string;
  /** SHA-256 of the file, 64 lower-case hex digits. */
  sha256: string;
  recorded_by: string;
  recorded_at: string;
}

/** The node image tables (owned by the discovery domain, which builds the image). */
export interface NodeImageTables {
  node_image_files: NodeImageFilesTable;
}

/** Their columns at run time, for the schema drift test. */
export const nodeImageColumns = {
  node_image_files: {
    version: 'text',
    file: 'text',
    arch: 'text',
    size: 'bigint',
    sha256: 'text',
    recorded_by: 'text',
    recorded_at: 'text',
  },
} as const satisfies TableColumns<NodeImageTables>;
