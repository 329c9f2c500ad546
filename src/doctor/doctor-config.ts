import { Type, type Static } from '@sinclair/typebox';
import type { ErrorIssue } from '../error/kiln-error.js';

/** Schema of the `doctor:` section of the controller config (README, docs/doctor.md); every key has a default. */
export const DoctorConfigSchema = Type.Object({
  intervalSeconds: Type.Integer({
    minimum: 10,
    maximum: 86_400,
    default: 300,
    description: 'How often the controller runs its self-check after the run at start.',
  }),
  timeoutSeconds: Type.Integer({
    minimum: 1,
    maximum: 300,
    default: 10,
    description: 'A check still running after this long fails as timed out.',
  }),
  diskWarnMiB: Type.Integer({
    minimum: 0,
    maximum: 1_048_576,
    default: 4096,
    description: 'data-dir-disk warns below this much free space.',
  }),
  diskFailMiB: Type.Integer({
    minimum: 0,
    maximum: 1_048_576,
    default: 1024,
    description: 'data-dir-disk fails below this much free space.',
  }),
  diskWarnPercent: Type.Number({
    minimum: 0,
    maximum: 100,
    default: 10,
    description: 'data-dir-disk warns below this share of the file system free.',
  }),
  diskFailPercent: Type.Number({
    minimum: 0,
    maximum: 100,
    default: 2,
    description: 'data-dir-disk fails below this share of the file system free.',
  }),
  tlsWarnDays: Type.Integer({
    minimum: 0,
    maximum: 3650,
    default: 30,
    description: 'tls-certificate warns when the certificate expires within this many days.',
  }),
  clockAheadSeconds: Type.Integer({
    minimum: 1,
    maximum: 86_400,
    default: 60,
    description: "clock fails when the store's newest event is more than this far in this clock's future.",
  }),
});

/** The doctor config slice. */
export type DoctorConfig = Static<typeof DoctorConfigSchema>;

/** The defaults of every doctor setting (what the schema fills in). */
export const defaultDoctorConfig: DoctorConfig = {
  intervalSeconds: 300,
  timeoutSeconds: 10,
  diskWarnMiB: 4096,
  diskFailMiB: 1024,
  diskWarnPercent: 10,
  diskFailPercent: 2,
  tlsWarnDays: 30,
  clockAheadSeconds: 60,
};

/** Cross-key rules the schema cannot say: a fail threshold must not be above its warn threshold. */
export function doctorConfigIssues(c: DoctorConfig): ErrorIssue[] {
  const issues: ErrorIssue[] = [];
  for (const [fail, warn] of [
    ['diskFailMiB', 'diskWarnMiB'],
    ['diskFailPercent', 'diskWarnPercent'],
  ] as const)
    if (c[fail] > c[warn])
      issues.push({
        path: `doctor.${fail}`,
        code: 'bad_value',
        message: `doctor.${fail} (${c[fail]}) must not be above doctor.${warn} (${c[warn]})`,
      });
  return issues;
}
