import { Type, type Static } from '@sinclair/typebox';

/** Linux interface names: 1–15 characters, none of radvd's config syntax (spaces, braces, semicolons, quotes). */
export const INTERFACE_NAME = '^[A-Za-z0-9_.:@-]{1,15}$';

/**
 * Schema of `dhcp.routerAdvertisements`: answer IPv6 router solicitations on
 * the named boot interfaces with a router lifetime of 0 and no prefix, only so
 * that iPXE stops waiting for IPv6 (docs/booting.md). Without `interfaces`,
 * the boot interfaces are the ones DHCP subnets name (`subnets[].interface`,
 * mode not `off`); an explicit list wins and `[]` sends nothing.
 */
export const RouterAdvertisementConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Answer router solicitations on `interfaces` (with DHCP enabled). Needs radvd.',
    }),
    interfaces: Type.Optional(
      Type.Array(Type.String({ pattern: INTERFACE_NAME }), {
        maxItems: 64,
        description:
          'Boot interfaces (e.g. br0) to answer on. Absent: every `interface` the DHCP subnets name (mode not off); [] means none.',
      }),
    ),
  },
  { default: {} },
);

/** The validated `dhcp.routerAdvertisements` slice. */
export type RouterAdvertisementConfig = Static<typeof RouterAdvertisementConfigSchema>;

/** Defaults: on, on the interfaces the DHCP subnets name (none in single-socket mode). */
export const defaultRouterAdvertisementConfig: RouterAdvertisementConfig = { enabled: true };

/**
 * The interfaces to answer router solicitations on: the explicit list when
 * given (even empty), else each distinct `interface` of a subnet that DHCP
 * serves (mode not `off`), in config order. Pure.
 */
export function raInterfaces(
  ra: RouterAdvertisementConfig,
  subnets: ReadonlyArray<{ interface?: string | undefined; mode: string }>,
): string[] {
  if (ra.interfaces !== undefined) return [...ra.interfaces];
  const out: string[] = [];
  for (const s of subnets)
    if (s.interface !== undefined && s.mode !== 'off' && !out.includes(s.interface)) out.push(s.interface);
  return out;
}
