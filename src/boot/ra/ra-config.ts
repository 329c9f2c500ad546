import { Type, type Static } from '@sinclair/typebox';

/** Linux interface names: 1–15 characters, none of radvd's config syntax (spaces, braces, semicolons, quotes). */
export const INTERFACE_NAME = '^[A-Za-z0-9_.:@-]{1,15}$';

/**
 * Schema of `dhcp.routerAdvertisements`: answer IPv6 router solicitations on
 * the named boot interfaces with a router lifetime of 0 and no prefix, only so
 * that iPXE stops waiting for IPv6 (docs/booting.md). Interfaces are never
 * guessed: an empty list sends nothing.
 */
export const RouterAdvertisementConfigSchema = Type.Object({
  enabled: Type.Boolean({ default: true, description: 'Answer router solicitations on `interfaces` (with DHCP enabled). Needs radvd.' }),
  interfaces: Type.Array(Type.String({ pattern: INTERFACE_NAME }), { default: [], maxItems: 64, description: 'Boot interfaces (e.g. br0) to answer on; empty means none.' }),
}, { default: {} });

/** The validated `dhcp.routerAdvertisements` slice. */
export type RouterAdvertisementConfig = Static<typeof RouterAdvertisementConfigSchema>;

/** Defaults: on, but with no interface named nothing is sent. */
export const defaultRouterAdvertisementConfig: RouterAdvertisementConfig = { enabled: true, interfaces: [] };
