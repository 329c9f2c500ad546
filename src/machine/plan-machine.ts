import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import type { MachineFacts } from './machine-facts.js';
import { MachineDescriptionSchema, type MachineDescription } from './machine-schema.js';
import { planNetwork, type NetworkPlan } from './plan-network.js';
import { planStorage, type StoragePlan, type TangPlanState } from './plan-storage.js';

/** The concrete plan for one host, kept with its deployment (`machine-plan.json`) and carried in the install plan. */
export interface MachinePlan {
  /** Absent: the writer's single-disk layout. */
  storage?: StoragePlan;
  /** Absent: DHCP on the boot NIC. */
  network?: NetworkPlan;
}

/** The install file a deployment keeps its machine plan in. */
export const MACHINE_PLAN_FILE = 'machine-plan.json';

/**
 * Parses a machine description (YAML or JSON text, as rendered from the
 * profile's template) and checks it against the schema; `validation_failed`
 * lists each problem with its JSON pointer.
 */
export function parseMachineDescription(text: string, source: string): MachineDescription {
  let value: unknown;
  try {
    value = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new KilnError('validation_failed', `${source}: not YAML: ${(err as Error).message.split('\n')[0]}`, {
      issues: [{ path: source, code: 'yaml_syntax', message: (err as Error).message.split('\n')[0] ?? '' }],
    });
  }
  const issues: ErrorIssue[] = [];
  const seen = new Set<string>();
  for (const e of Value.Errors(MachineDescriptionSchema, value)) {
    if ([...seen].some((p) => e.path === p || e.path.startsWith(`${p}/`))) continue;
    seen.add(e.path);
    issues.push({ path: e.path || '/', code: 'schema', message: e.message });
  }
  if (issues.length > 0)
    throw new KilnError(
      'validation_failed',
      `${source}: the machine description is not valid: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      { issues },
    );
  return value as MachineDescription;
}

/**
 * Checks a machine description against a host's facts and renders the
 * concrete plan: which disk gets what, the storage steps as data, the
 * network for each stack as text. Pure. Refuses with `layout_unfit` (every issue with
 * its JSON pointer, stable code and a message naming what does not fit)
 * before anything is written.
 */
export function planMachine(
  description: MachineDescription,
  facts: MachineFacts,
  opts: { hostName?: string; mdBase?: number; tang?: TangPlanState; uuid?: () => string } = {},
): MachinePlan {
  const issues: ErrorIssue[] = [];
  if (description.storage && !facts.known)
    issues.push({
      path: '/storage',
      code: 'no_facts',
      message: 'the host has reported no hardware facts (it was never discovered): its disks are unknown',
    });
  const storage = description.storage && facts.known ? planStorage(description.storage, facts.disks, opts) : undefined;
  const network = description.network ? planNetwork(description.network, facts) : undefined;
  issues.push(...(storage?.issues ?? []), ...(network?.issues ?? []));
  if (issues.length > 0)
    throw new KilnError(
      'layout_unfit',
      `the machine description does not fit host ${opts.hostName ?? ''}: ${issues.map((i) => i.message).join('; ')}`.replace(
        'host :',
        'the host:',
      ),
      { issues },
    );
  return {
    ...(storage?.plan ? { storage: storage.plan } : {}),
    ...(network?.plan ? { network: network.plan } : {}),
  };
}

/**
 * The static addresses a deployment's machine plan (`machine-plan.json`, as
 * kept with the deployment) gives the installed system; none for a missing
 * or unreadable plan or one without static addressing.
 */
export function machinePlanAddresses(planText: string | undefined): string[] {
  if (planText === undefined) return [];
  try {
    const addresses = (JSON.parse(planText) as MachinePlan).network?.addresses;
    return Array.isArray(addresses) ? addresses.filter((a): a is string => typeof a === 'string') : [];
  } catch {
    return [];
  }
}
