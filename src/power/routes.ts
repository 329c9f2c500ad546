import type { FastifyPluginAsyncTypebox } from '../api/type-provider.js';
import { actorOf } from '../api/role.js';
import type { HostPower, HostPowerStatus } from './host-power.js';
import {
  BatchBody,
  BatchReply,
  BootDeviceBody,
  BootDeviceReply,
  DriversReply,
  EnlistBody,
  EnlistReply,
  PowerActionBody,
  PowerActionReply,
  PowerParams,
  PowerStatusReply,
} from './power-schemas.js';

/** The status reply: the capability lists copied out of the driver's shared (readonly) constants. */
const statusReply = (s: HostPowerStatus): PowerStatusReply => ({
  ...s,
  capabilities: {
    ...s.capabilities,
    powerActions: [...s.capabilities.powerActions],
    bootOnce: [...s.capabilities.bootOnce],
    bootPersistent: [...s.capabilities.bootPersistent],
  },
});

/**
 * Power routes under /api/v1: per-host power and boot device, batch
 * power-on, BMC enlistment, the driver list. BMC failures surface as
 * `bmc_error` (502, the BMC's message), `bmc_timeout` (504) or
 * `bmc_unsupported` (422). Closes the drivers when the app closes.
 */
export const powerRoutes: FastifyPluginAsyncTypebox<{ power: HostPower }> = async (app, { power }) => {
  app.addHook('onClose', async () => power.close());

  app.get(
    '/hosts/:host/power',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['power'],
        summary: "Read a host's power state from its BMC (null when the driver cannot)",
        params: PowerParams,
        response: { 200: PowerStatusReply },
      },
    },
    async (req) => statusReply(await power.status(req.params.host, { actor: actorOf(req.principal) })),
  );

  app.post(
    '/hosts/:host/power',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['power'],
        summary: 'Power a host on, off, cycle it, or ask its OS to shut down (soft-off)',
        params: PowerParams,
        body: PowerActionBody,
        response: { 200: PowerActionReply },
      },
    },
    async (req) => {
      const b = req.body;
      const host = await power.setPower(req.params.host, b.action, {
        actor: actorOf(req.principal),
        reason: b.reason ?? null,
      });
      return { host, action: b.action, ok: true };
    },
  );

  app.put(
    '/hosts/:host/boot-device',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['power'],
        summary: 'Set the next (or every, with persistent) boot device',
        params: PowerParams,
        body: BootDeviceBody,
        response: { 200: BootDeviceReply },
      },
    },
    async (req) => {
      const b = req.body;
      const persistent = b.persistent ?? false;
      const host = await power.setBootDevice(req.params.host, b.device, persistent, {
        actor: actorOf(req.principal),
        reason: b.reason ?? null,
      });
      return { host, device: b.device, persistent };
    },
  );

  app.post(
    '/power/batch',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['power'],
        summary:
          "Power on many hosts, paced by the data plane's headroom or a stagger; one result per host (partial failure is 200)",
        body: BatchBody,
        response: { 200: BatchReply },
      },
    },
    async (req) => {
      const b = req.body;
      const pacing = b.pacing ?? 'headroom';
      return power.powerOnBatch(
        b.hosts,
        {
          staggerMs: b.staggerMs ?? (pacing === 'stagger' ? 2000 : 0),
          maxParallel: b.maxParallel ?? 20,
          bootNetwork: b.bootNetwork ?? false,
          pacing,
        },
        { actor: actorOf(req.principal), reason: b.reason ?? null },
      );
    },
  );

  app.post(
    '/bmc/enlist',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['power'],
        summary: 'Create or update one host per system a BMC or hypervisor reports (matched by MAC)',
        body: EnlistBody,
        response: { 200: EnlistReply },
      },
    },
    async (req) => {
      const b = req.body;
      return power.enlist(
        {
          driver: b.driver,
          address: b.address,
          options: b.options ?? {},
          ...(b.username !== undefined ? { username: b.username } : {}),
          ...(b.password !== undefined ? { password: b.password } : {}),
        },
        { actor: actorOf(req.principal), reason: b.reason ?? null },
      );
    },
  );

  app.get(
    '/power/drivers',
    {
      config: { access: 'viewer' },
      schema: { tags: ['power'], summary: 'Power drivers this controller offers', response: { 200: DriversReply } },
    },
    async () => ({ items: power.drivers().map((name) => ({ name })) }),
  );
};
