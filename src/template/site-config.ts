import { Type, type Static } from '@sinclair/typebox';

/**
 * Schema of the `site:` section: the site facts templates see as `site.*`.
 * Keys beyond these four are allowed on purpose: they reach templates as they
 * are (docs/profiles.md, "Render context"), so no key here is unknown.
 */
export const SiteConfigSchema = Type.Object(
  {
    domain: Type.String({ default: 'kiln.internal', description: "DNS domain of the hosts (a host's fqdn)." }),
    timezone: Type.String({ default: 'UTC', description: 'Time zone the installers set.' }),
    ntp: Type.Array(Type.String(), { default: [], description: 'NTP servers the installers set.' }),
    dns: Type.Array(Type.String(), { default: [], description: 'Name servers the installers set.' }),
  },
  { additionalProperties: true, default: {} },
);

/** The validated `site:` section, extra keys included. */
export type SiteConfig = Static<typeof SiteConfigSchema> & Record<string, unknown>;
