import { KilnError, type ErrorIssue } from '../error/kiln-error.js';
import type { Nic } from './host.js';

// RFC 1123 §2.1 host names: letters, digits, hyphens; labels up to 63 characters.
const hostName = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const tagPattern = /^[A-Za-z0-9][A-Za-z0-9_.:=-]{0,62}$/;
/** A label key: 1–63 letters, digits or `_ . - /` (so `var.disk` and `dhcp.ip` fit). */
export const labelKeyPattern = /^[A-Za-z0-9_.\-/]{1,63}$/;

/** Returns the issues with a host name (empty when fine). */
export function checkHostName(name: string, path = '/name'): ErrorIssue[] {
  return hostName.test(name)
    ? []
    : [
        {
          path,
          code: 'bad_name',
          message: `"${name}" is not a valid host name: use lower-case letters, digits and hyphens (RFC 1123), dots between labels`,
        },
      ];
}

/** Returns the issues with a tag list (empty when fine). */
export function checkTags(tags: string[], path = '/tags'): ErrorIssue[] {
  return tags.flatMap((t, i) =>
    tagPattern.test(t)
      ? []
      : [
          {
            path: `${path}/${i}`,
            code: 'bad_tag',
            message: `"${t}" is not a valid tag: 1–63 letters, digits or _ . : = -`,
          },
        ],
  );
}

/** Returns the issues with a label map (empty when fine): keys must match `labelKeyPattern`, values must be strings of at most 255 characters. */
export function checkLabels(labels: Record<string, unknown>, path = '/labels'): ErrorIssue[] {
  return Object.entries(labels).flatMap(([k, v]) => [
    ...(labelKeyPattern.test(k)
      ? []
      : [
          {
            path: `${path}/${k}`,
            code: 'bad_key',
            message: `label key "${k.slice(0, 80)}" is not valid: 1–63 letters, digits or _ . - /`,
          },
        ]),
    ...(typeof v === 'string' && v.length <= 255
      ? []
      : [{ path: `${path}/${k}`, code: 'bad_value', message: 'a label value is a string of at most 255 characters' }]),
  ]);
}

/** Ensures exactly one boot NIC when there are NICs and no MAC repeats; marks the first as boot when none is. */
export function settleNics(nics: Nic[]): Nic[] {
  const seen = new Set<string>();
  const issues: ErrorIssue[] = [];
  nics.forEach((n, i) => {
    if (seen.has(n.mac))
      issues.push({ path: `/nics/${i}/mac`, code: 'duplicate', message: `MAC ${n.mac} is listed twice` });
    seen.add(n.mac);
  });
  const boots = nics.filter((n) => n.boot).length;
  if (boots > 1)
    issues.push({ path: '/nics', code: 'several_boot_nics', message: 'mark at most one NIC with boot: true' });
  if (issues.length)
    throw new KilnError('validation_failed', issues.map((x) => `${x.path}: ${x.message}`).join('; '), { issues });
  if (nics.length > 0 && boots === 0) return nics.map((n, i) => ({ ...n, boot: i === 0 }));
  return nics;
}

/** Throws `validation_failed` with every issue when the list is not empty. */
export function throwIssues(issues: ErrorIssue[]): void {
  if (issues.length)
    throw new KilnError('validation_failed', issues.map((x) => `${x.path}: ${x.message}`).join('; '), { issues });
}
