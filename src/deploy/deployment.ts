import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { DeploymentStatus, DeploymentsTable } from './deploy-tables.js';

/**
 * One deployment of a host: the profile and every file rendered for it at
 * deploy time, kept so a re-install is identical and an operator can see
 * exactly what the host got. Install files hold no secrets.
 */
export interface Deployment {
  id: string;
  hostId: string;
  profile: string;
  files: Record<string, string>;
  bootSpec: { kernel: string; initrd: string[]; cmdline: string };
  imageSpec: Record<string, unknown> | null;
  status: DeploymentStatus;
  createdAt: string;
  createdBy: string;
  installedAt: string | null;
  completedAt: string | null;
}

const fromRow = (r: Selectable<DeploymentsTable>): Deployment => ({
  id: r.id,
  hostId: r.host_id,
  profile: r.profile,
  files: JSON.parse(r.files) as Deployment['files'],
  bootSpec: JSON.parse(r.boot_spec) as Deployment['bootSpec'],
  imageSpec: r.image_spec ? (JSON.parse(r.image_spec) as Deployment['imageSpec']) : null,
  status: r.status,
  createdAt: r.created_at,
  createdBy: r.created_by,
  installedAt: r.installed_at,
  completedAt: r.completed_at,
});

/** The newest deployment of a host, or null. */
export async function getCurrentDeployment(db: Kysely<Database>, hostId: string): Promise<Deployment | null> {
  const r = await db
    .selectFrom('deployments')
    .selectAll()
    .where('host_id', '=', hostId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r ? fromRow(r) : null;
}

/** What the per-host boot script needs of a deployment: no install files (they can be megabytes). */
export type BootDeployment = Pick<Deployment, 'id' | 'profile' | 'bootSpec' | 'status'> & {
  /** A stateless image (image.stateless): every boot runs the boot spec, deployed or not (docs/stateless.md). */
  stateless?: boolean;
};

/** The newest deployment of a host without its files, or null: the boot-script path reads this on every fetch. */
export async function getCurrentBootDeployment(db: Kysely<Database>, hostId: string): Promise<BootDeployment | null> {
  const r = await db
    .selectFrom('deployments')
    .select(['id', 'profile', 'boot_spec', 'status', 'image_spec'])
    .where('host_id', '=', hostId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!r) return null;
  const d: BootDeployment = {
    id: r.id,
    profile: r.profile,
    bootSpec: JSON.parse(r.boot_spec) as Deployment['bootSpec'],
    status: r.status,
  };
  const spec = r.image_spec ? (JSON.parse(r.image_spec) as Record<string, unknown>) : null;
  return spec?.['stateless'] === true ? { ...d, stateless: true } : d;
}

/** A host's deployments, newest first. */
export async function listDeployments(db: Kysely<Database>, hostId: string): Promise<Deployment[]> {
  return (
    await db.selectFrom('deployments').selectAll().where('host_id', '=', hostId).orderBy('created_at', 'desc').execute()
  ).map(fromRow);
}

/** Inserts a deployment and marks the host's earlier open ones superseded. */
export async function insertDeployment(db: Kysely<Database>, d: Deployment): Promise<void> {
  await db
    .updateTable('deployments')
    .set({ status: 'superseded' })
    .where('host_id', '=', d.hostId)
    .where('status', 'in', ['deploying', 'installed'])
    .execute();
  await db
    .insertInto('deployments')
    .values({
      id: d.id,
      host_id: d.hostId,
      profile: d.profile,
      files: JSON.stringify(d.files),
      boot_spec: JSON.stringify(d.bootSpec),
      image_spec: d.imageSpec ? JSON.stringify(d.imageSpec) : null,
      status: d.status,
      created_at: d.createdAt,
      created_by: d.createdBy,
      installed_at: null,
      completed_at: null,
    })
    .execute();
}

/** Moves a deployment to a later status, stamping installed/completed times. */
export async function setDeploymentStatus(
  db: Kysely<Database>,
  id: string,
  status: Deployment['status'],
  at: string,
): Promise<void> {
  const extra = status === 'installed' ? { installed_at: at } : status === 'complete' ? { completed_at: at } : {};
  await db
    .updateTable('deployments')
    .set({ status, ...extra })
    .where('id', '=', id)
    .execute();
}
