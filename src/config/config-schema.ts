// The whole configuration of `kiln serve`, composed from one schema per
// section, each beside its domain. A new section plugs in here: a group of
// top-level settings in `configSettingGroups`, or a nested YAML section in
// `configSections`; the loader, the flags, --print-config and the
// unknown-key check follow from these two tables.
import { Type, type Static, type TObject } from '@sinclair/typebox';
import { BootSettingsSchema } from '../boot/boot-settings.js';
import { DhcpConfigSchema } from '../boot/dhcp/dhcp-config.js';
import { DiscoverySettingsSchema } from '../boot/discovery-settings.js';
import { TftpConfigSchema } from '../boot/tftp/tftp-config.js';
import { PowerSettingsSchema } from '../power/power-settings.js';
import { SiteConfigSchema } from '../template/site-config.js';
import { TemplateSettingsSchema } from '../template/template-settings.js';
import { SyslogConfigSchema } from '../syslog/syslog-config.js';
import { TimelineConfigSchema } from '../timeline/timeline-config.js';
import { HookConfigSchema } from '../hook/hook-config.js';
import { HeartbeatConfigSchema } from '../heartbeat/heartbeat-config.js';
import { DoctorConfigSchema } from '../doctor/doctor-config.js';
import { ClusterConfigSchema } from '../cluster/cluster-config.js';
import { ServerSettingsSchema } from './server-settings.js';

/** Groups of top-level settings (flag, KILN_* variable, YAML key): each group is one typed slice of the config. */
export const configSettingGroups = {
  server: ServerSettingsSchema,
  boot: BootSettingsSchema,
  discovery: DiscoverySettingsSchema,
  power: PowerSettingsSchema,
  templates: TemplateSettingsSchema,
} as const satisfies Record<string, TObject>;

/** Nested sections, from the YAML file only; `doc` is where an operator reads their keys. */
export const configSections = {
  dhcp: { schema: DhcpConfigSchema, doc: 'docs/dhcp.md' },
  tftp: { schema: TftpConfigSchema, doc: 'docs/tftp.md' },
  site: { schema: SiteConfigSchema, doc: 'README.md and docs/profiles.md' },
  syslog: { schema: SyslogConfigSchema, doc: 'docs/syslog.md' },
  timeline: { schema: TimelineConfigSchema, doc: 'docs/timeline.md' },
  hooks: { schema: HookConfigSchema, doc: 'docs/hooks.md' },
  heartbeat: { schema: HeartbeatConfigSchema, doc: 'docs/heartbeat.md' },
  doctor: { schema: DoctorConfigSchema, doc: 'docs/doctor.md' },
  cluster: { schema: ClusterConfigSchema, doc: 'docs/cluster.md' },
} as const satisfies Record<string, { schema: TObject; doc: string }>;

/** The schema of the whole config file: every top-level setting and every section, nothing else. */
export const ConfigFileSchema = Type.Object(
  {
    ...Object.fromEntries(Object.values(configSettingGroups).flatMap((g) => Object.entries(g.properties))),
    ...Object.fromEntries(Object.entries(configSections).map(([k, v]) => [k, Type.Optional(v.schema)])),
  },
  { additionalProperties: false },
);

/** The typed slices of each settings group. */
export type SettingGroups = { [K in keyof typeof configSettingGroups]: Static<(typeof configSettingGroups)[K]> };
