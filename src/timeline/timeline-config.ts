import { Type, type Static, type TObject } from '@sinclair/typebox';
import { stageOrder, type Stage, type StageDeadlines, type TimelineRules } from './stage-model.js';

/**
 * Default seconds to reach each stage from the one before (docs/timeline.md
 * says where they come from). Generous: a stall is reported once, so a
 * deadline that is too short only makes one early, wrong event.
 */
export const defaultDeadlines: StageDeadlines = {
  'boot-file': 30,
  'ipxe-dhcp': 30,
  'ipxe-script': 60,
  kernel: 60,
  initrd: 120,
  'os-dhcp': 180,
  agent: 300,
  facts: 300,
  'install-plan': 600,
  'install-step': 1800,
  installed: 3600,
  'first-boot': 900,
  heartbeat: 3600,
};

/** UEFI firmware starts iPXE more slowly than a PXE ROM (driver binding, SNP): more time for iPXE's DHCP. */
export const defaultFirmwareDeadlines = {
  'uefi-pxe': { 'ipxe-dhcp': 60 },
  'uefi-http': { 'ipxe-dhcp': 60 },
} as const;

const timedStages = stageOrder.filter((s): s is Exclude<Stage, 'dhcp'> => s !== 'dhcp');

const seconds = (description: string, dflt?: number) =>
  Type.Integer({ minimum: 1, maximum: 86_400, ...(dflt !== undefined ? { default: dflt } : {}), description });

const deadlineSchema = (withDefaults: boolean): TObject =>
  Type.Object(
    Object.fromEntries(
      timedStages.map((s) => [
        s,
        withDefaults
          ? seconds(`Seconds to reach ${s} from the stage before.`, defaultDeadlines[s])
          : Type.Optional(seconds(`Seconds to reach ${s} from the stage before, for this firmware.`)),
      ]),
    ),
    { default: {} },
  );

/** Schema of the `timeline:` section of the controller config (docs/timeline.md); every key has a default. */
export const TimelineConfigSchema = Type.Object({
  checkSeconds: Type.Integer({
    minimum: 1,
    maximum: 3600,
    default: 5,
    description: 'How often silent hosts are checked against their deadlines.',
  }),
  sessionGapSeconds: Type.Integer({
    minimum: 10,
    maximum: 86_400,
    default: 900,
    description: 'A boot-start request after this much silence from the host starts a new session.',
  }),
  deadlines: deadlineSchema(true),
  firmware: Type.Object(
    {
      bios: Type.Optional(deadlineSchema(false)),
      'uefi-pxe': Type.Optional(deadlineSchema(false)),
      'uefi-http': Type.Optional(deadlineSchema(false)),
      ipxe: Type.Optional(deadlineSchema(false)),
      unknown: Type.Optional(deadlineSchema(false)),
    },
    { default: defaultFirmwareDeadlines },
  ),
  retention: Type.Object(
    {
      days: Type.Integer({
        minimum: 1,
        maximum: 3650,
        default: 30,
        description: 'Sessions older than this are pruned.',
      }),
      sessionsPerHost: Type.Integer({
        minimum: 1,
        maximum: 10_000,
        default: 50,
        description: 'Sessions kept per host; older ones are pruned with their observations.',
      }),
    },
    { default: {} },
  ),
});

/** The timeline config slice. */
export type TimelineConfig = Static<typeof TimelineConfigSchema>;

/** The defaults of every timeline setting (what the schema fills in). */
export const defaultTimelineConfig: TimelineConfig = {
  checkSeconds: 5,
  sessionGapSeconds: 900,
  deadlines: defaultDeadlines,
  firmware: defaultFirmwareDeadlines,
  retention: { days: 30, sessionsPerHost: 50 },
};

/** The stage model's rules from the config slice. */
export const rulesOf = (c: TimelineConfig): TimelineRules => ({
  deadlines: c.deadlines as StageDeadlines,
  firmware: c.firmware,
  sessionGapSeconds: c.sessionGapSeconds,
});
