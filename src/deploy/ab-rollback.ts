// Layout ab on the controller (docs/ab-roots.md): the switch itself happens on
// the node without Kiln (GRUB's boot counter, kiln-ab watch); Kiln learns of a
// fall-back from what the host reports (the heartbeat agent's `ab` status)
// and records `deploy.rolled_back` once per deployment; `kiln host rollback`
// leaves a request that the next heartbeat reply hands to the agent.
import type { Kysely } from 'kysely';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/event-log.js';
import type { InventoryService } from '../inventory/inventory-service.js';
import type { Database } from '../schema.js';
import { withTransaction } from '../store/transaction.js';
import { getCurrentDeployment } from './deployment.js';

/** A host's A/B state as its agent reads it from the ESP (`kiln-ab status`); null fields are unset. */
export interface AbReport {
  /** The slot this boot runs (kiln.slot=). */
  slot: string | null;
  /** The slot that boots when no trial is pending. */
  good: string | null;
  /** The slot whose trial ran out and that GRUB fell back from (kept until the next deploy). */
  fellBack: string | null;
}

export interface AbRollbackDeps {
  db: Kysely<Database>;
  inventory: Pick<InventoryService, 'getHost'>;
  now?: () => Date;
}

/**
 * `reported` runs on every heartbeat that carries an A/B status (cheap when
 * nothing fell back and nothing is requested: two indexed reads);
 * `requestRollback` is the operator's `kiln host rollback`.
 */
export function createAbRollback(deps: AbRollbackDeps) {
  const now = () => (deps.now ?? (() => new Date()))().toISOString();
  return {
    /**
     * Takes a host's A/B report. When GRUB fell back from the slot of the
     * host's newest deployment, that deployment becomes `rolled_back` with one
     * `deploy.rolled_back` event (later reports of the same fall-back change
     * nothing). Returns whether the agent must switch slots now (a pending
     * `kiln host rollback`, handed over once and removed).
     */
    async reported(hostId: string, hostName: string, ab: AbReport): Promise<{ switchSlot: boolean }> {
      return withTransaction(deps.db, async (tx) => {
        const at = now();
        if (ab.fellBack !== null) {
          const d = await getCurrentDeployment(tx, hostId);
          if (d && d.imageSpec?.['layout'] === 'ab' && ['deploying', 'installed', 'complete'].includes(d.status)) {
            await tx.updateTable('deployments').set({ status: 'rolled_back' }).where('id', '=', d.id).execute();
            await appendEvent(
              tx,
              {
                actor: `node:${hostName}`,
                kind: 'deploy.rolled_back',
                hostId,
                subject: hostName,
                message: `${hostName} fell back to slot ${ab.slot ?? '?'}: slot ${ab.fellBack} of deployment ${d.id} (${d.profile}) did not pass its health check in its tries`,
                data: { deployment: d.id, profile: d.profile, failedSlot: ab.fellBack, slot: ab.slot },
              },
              at,
            );
          }
        }
        const pending = await tx
          .deleteFrom('ab_switch_requests')
          .where('host_id', '=', hostId)
          .returning('requested_by')
          .executeTakeFirst();
        if (pending) {
          await appendEvent(
            tx,
            {
              actor: `node:${hostName}`,
              kind: 'host.rollback_sent',
              hostId,
              subject: hostName,
              message: `${hostName}'s heartbeat agent was told to switch from slot ${ab.slot ?? '?'} to the other slot and reboot (asked by ${pending.requested_by})`,
              data: { slot: ab.slot },
            },
            at,
          );
        }
        return { switchSlot: pending !== undefined };
      });
    },

    /**
     * Asks an `ab` host to boot its other slot: the next heartbeat reply tells
     * the agent, which makes the other slot the good one and reboots. Refused
     * for a host whose newest deployment is not layout ab.
     */
    async requestRollback(hostRef: string, actor: string): Promise<{ host: string; requestedAt: string }> {
      const host = await deps.inventory.getHost(hostRef);
      const d = await getCurrentDeployment(deps.db, host.id);
      if (!d || d.imageSpec?.['layout'] !== 'ab')
        throw new KilnError(
          'validation_failed',
          `${host.name} was not deployed with layout ab (two root slots), so there is no other slot to roll back to; deploy it with a profile whose image has layout: ab`,
        );
      const at = now();
      await withTransaction(deps.db, async (tx) => {
        await tx.deleteFrom('ab_switch_requests').where('host_id', '=', host.id).execute();
        await tx
          .insertInto('ab_switch_requests')
          .values({ host_id: host.id, requested_at: at, requested_by: actor })
          .execute();
        await appendEvent(
          tx,
          {
            actor,
            kind: 'host.rollback_requested',
            hostId: host.id,
            subject: host.name,
            message: `rollback of ${host.name} to its other slot requested; its heartbeat agent switches at its next heartbeat`,
            data: { deployment: d.id },
          },
          at,
        );
      });
      return { host: host.name, requestedAt: at };
    },
  };
}

/** The A/B rollback service's type. */
export type AbRollback = ReturnType<typeof createAbRollback>;
