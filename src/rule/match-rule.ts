import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import { checkHostName } from '../inventory/validate-host.js';
import { namePlaceholders, type Rule } from './rule.js';
import { factText } from '../inventory/fact-text.js';

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const lower = (v: unknown) => factText(v).toLowerCase();
const normMac = (s: string) => s.toLowerCase().replace(/-/g, ':');

/** True when every condition of the rule holds for these facts. Pure. */
export function ruleMatches(rule: Rule, facts: Record<string, unknown>): boolean {
  const m = rule.match;
  const dmi = obj(facts['dmi']);
  const disks = Array.isArray(facts['disks']) ? facts['disks'] : [];
  const memBytes = Number(obj(facts['memory'])['installedBytes'] ?? obj(facts['memory'])['totalBytes'] ?? 0);
  if (m.vendor !== undefined && lower(dmi['vendor']) !== m.vendor.toLowerCase()) return false;
  if (m.product !== undefined && lower(dmi['product']) !== m.product.toLowerCase()) return false;
  if (m.macPrefix !== undefined && !normMac(factText(facts['bootMac'])).startsWith(normMac(m.macPrefix))) return false;
  if (m.memoryGiBAtLeast !== undefined && memBytes < m.memoryGiBAtLeast * 1024 ** 3 * 0.97) return false;
  if (m.cpuCountAtLeast !== undefined && Number(obj(facts['cpu'])['count'] ?? 0) < m.cpuCountAtLeast) return false;
  if (m.diskCount !== undefined && disks.length !== m.diskCount) return false;
  if (m.diskCountAtLeast !== undefined && disks.length < m.diskCountAtLeast) return false;
  if (m.firmware !== undefined && facts['firmware'] !== m.firmware) return false;
  return true;
}

/** The first rule (by priority, then name) whose conditions hold, or null. */
export function selectRule(rules: Rule[], facts: Record<string, unknown>): Rule | null {
  const sorted = [...rules].sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : 1));
  return sorted.find((r) => ruleMatches(r, facts)) ?? null;
}

/** Expands a name pattern with facts; placeholder values are reduced to host-name characters. */
export function expandName(pattern: string, facts: Record<string, unknown>): string {
  const dmi = obj(facts['dmi']);
  const values: Record<string, string> = {
    mac: factText(facts['bootMac'])
      .toLowerCase()
      .replace(/[^0-9a-f]/g, ''),
    serial: factText(dmi['serial']),
    vendor: factText(dmi['vendor']),
    product: factText(dmi['product']),
    uuid: factText(dmi['uuid']),
  };
  return pattern.replace(/\{([a-z]+)\}/g, (_, k: string) =>
    (values[k] ?? '')
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, ''),
  );
}

/** Checks a rule when it is saved: placeholders known, the pattern yields a valid name, the profile exists. */
export function validateRule(rule: Rule, profileExists: (name: string) => boolean): void {
  const issues: ErrorIssue[] = [];
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(rule.name))
    issues.push({
      path: '/name',
      code: 'bad_name',
      message: 'rule names are 1–63 lower-case letters, digits or hyphens',
    });
  if (rule.assign.name !== undefined) {
    for (const [, k] of rule.assign.name.matchAll(/\{([^}]*)\}/g)) {
      if (!(namePlaceholders as readonly string[]).includes(k))
        issues.push({
          path: '/assign/name',
          code: 'unknown_placeholder',
          message: `unknown placeholder {${k}}; use ${namePlaceholders.map((p) => `{${p}}`).join(', ')}`,
        });
    }
    const sample = rule.assign.name.replace(/\{[a-z]+\}/g, 'x1');
    issues.push(...checkHostName(sample, '/assign/name'));
  }
  if (rule.assign.profile !== undefined && !profileExists(rule.assign.profile)) {
    issues.push({
      path: '/assign/profile',
      code: 'unknown_profile',
      message: `no profile named ${rule.assign.profile}; see \`kiln profile list\``,
    });
  }
  if (Object.keys(rule.match).length === 0)
    issues.push({ path: '/match', code: 'empty_match', message: 'a rule needs at least one condition' });
  if (issues.length)
    throw new KilnError(
      'validation_failed',
      `rule ${rule.name}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      { issues },
    );
}
