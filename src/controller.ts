import type { Logger as PinoLogger } from 'pino';
import type { Kysely } from 'kysely';
import { buildApp } from './api/build-app.js';
import { tokenRoutes } from './auth/routes.js';
import { createTokenService } from './auth/token-service.js';
import { eventRoutes } from './event/routes.js';
import { createInventoryService } from './inventory/inventory-service.js';
import { hostRoutes } from './inventory/routes.js';
import type { Logger } from './log/logger.js';

/** What the controller is built from: an open, migrated database and the secret box for BMC passwords. */
export interface ControllerDeps {
  db: Kysely<any>;
  seal: (clear: string) => string;
  open: (sealed: string) => string;
  log: Logger;
  httpLogger?: PinoLogger | false;
  bodyLimit?: number;
  now?: () => Date;
}

/**
 * Wires services and the HTTP app in one place, for `main` and for tests
 * (which pass an in-memory SQLite). Does not listen.
 */
export async function createController(deps: ControllerDeps) {
  const inventory = createInventoryService({ db: deps.db, seal: deps.seal, open: deps.open, log: deps.log.child({ domain: 'inventory' }), now: deps.now });
  const tokens = createTokenService({ db: deps.db, log: deps.log.child({ domain: 'auth' }), now: deps.now });
  const app = await buildApp({
    logger: deps.httpLogger ?? false,
    bodyLimit: deps.bodyLimit,
    auth: { token: (t) => tokens.authenticate(t) },
    plugins: [
      { plugin: hostRoutes, options: { inventory } },
      { plugin: eventRoutes, options: { listEvents: inventory.listEvents } },
      { plugin: tokenRoutes, options: { tokens, now: deps.now } },
    ],
  });
  return { app, inventory, tokens };
}

/** The controller's type, for tests and `main`. */
export type Controller = Awaited<ReturnType<typeof createController>>;
