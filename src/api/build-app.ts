import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginOptions,
  type FastifySchema,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
  type RouteOptions,
} from 'fastify';
import swagger from '@fastify/swagger';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Logger as PinoLogger } from 'pino';
import { KilnError } from '../error/kiln-error.js';
import { installRequestLog, type RequestLogMode } from './request-log.js';
import { installAuth, type Authenticators, type RouteEntry } from './auth-hook.js';
import type { Access } from './role.js';
import { answerClientError, MAX_PARAM_LENGTH, sendError } from './error-reply.js';
import { installBoundsKeyword } from './json-bounds.js';
import { installJsonBodyParser } from './json-body.js';
import type { KilnFastify, TypeBoxTypeProvider } from './type-provider.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

declare const checked: unique symbol;

/**
 * A domain's routes plus the options it needs; registered under /api/v1 unless `prefix` says otherwise. Built only
 * by `domain()`, which checks the options against the plugin's own options type at the registration.
 */
export interface DomainPlugin {
  plugin(this: void, app: KilnFastify, options: FastifyPluginOptions): Promise<void>;
  options?: FastifyPluginOptions;
  prefix?: string;
  readonly [checked]: true;
}

/**
 * One domain plugin registration: `options` must be what `plugin` declares (a
 * `FastifyPluginAsyncTypebox<O>` for its own `O`), so a missing or misspelled
 * service fails the build at the line that registers it. The list that holds
 * plugins of different options stores them erased.
 */
export function domain<O extends FastifyPluginOptions>(
  plugin: (app: KilnFastify, options: O) => Promise<void>,
  ...rest: Record<never, never> extends O ? [options?: O, prefix?: string] : [options: O, prefix?: string]
): DomainPlugin {
  const [options, prefix] = rest;
  return { plugin, options, prefix } as unknown as DomainPlugin;
}

/** Everything the HTTP app needs; built by `main`, or by tests with fakes. */
export interface AppDeps {
  auth: Authenticators;
  plugins: DomainPlugin[];
  logger?: PinoLogger | false;
  bodyLimit?: number;
  version?: string;
  /** Which requests the access log writes at info (`log-requests`); only with `logger`. @default 'changes' */
  logRequests?: RequestLogMode;
  /** Called once per answered request (metrics); `route` is the matched pattern, `unmatched` for 404s. */
  onResponse?: (method: string, route: string, status: number, seconds: number) => void;
  /** Called once per answered request with what a boot observer needs (the boot timeline); must not throw. */
  onExchange?: (x: HttpExchange) => void;
  /**
   * Counts requests waiting for their answer: +1 when one arrives, -1 when its reply is handed to the socket
   * (Fastify's onSend: a file's headers go out then and its body streams on) or its connection closes first.
   * A kernel download in progress costs bandwidth, not an answer, so it is not counted (admission control reads
   * this as a congestion sign, src/power/admission.ts).
   */
  inFlight?: (delta: 1 | -1) => void;
  /**
   * Requests answered ahead of Fastify on the app's own server (the boot scripts, src/boot/http/boot-fast-path.ts):
   * true when it answered, false to let Fastify route it. Off at log level debug (Fastify logs every request
   * there) and while the app closes (Fastify answers 503); `inject()` never takes it.
   */
  fastPath?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/** One answered request, as plain values: `path` without the query, `bytes` from content-length when known. */
export interface HttpExchange {
  method: string;
  route: string;
  path: string;
  query: string;
  status: number;
  bytes: number | null;
  seconds: number;
  ip: string;
  /** The node a node credential named. */
  nodeHostId: string | null;
  /** The `X-Kiln-Session` header (a node's boot session). */
  session: string | undefined;
  body: unknown;
}

const securitySchemes = {
  bearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'an operator token (`kiln token create`); the role each call needs is in `x-kiln-access`',
  },
  nodeCredential: { type: 'http', scheme: 'bearer', description: 'a node credential (kn_…), issued once at enrolment' },
  memberCredential: {
    type: 'apiKey',
    in: 'header',
    name: 'Authorization',
    description: 'another controller of the store: `KilnMember v1.…`, HTTPS only (docs/security.md, "Members")',
  },
} as const;

/**
 * Per-route OpenAPI details from the route's `config.access`, so the document
 * cannot disagree with the auth hook: public routes have no security, node
 * routes a node credential, the rest a bearer token of the named role. A
 * wildcard tail (`/ipxe/*`) becomes a `{path}` parameter.
 */
function openapiOperation({ schema, url, route }: { schema: FastifySchema; url: string; route: RouteOptions }): {
  schema: FastifySchema;
  url: string;
} {
  const access: Access | undefined = route.config?.access;
  const security =
    access === 'public'
      ? []
      : access === 'node'
        ? [{ nodeCredential: [] }]
        : access === 'member'
          ? [{ memberCredential: [] }]
          : [{ bearer: [] }];
  const wildcard = url.endsWith('*');
  const names = [...[...url.matchAll(/:(\w+)/g)].map((m) => m[1]), ...(wildcard ? ['path'] : [])];
  const declared = propertiesOf(schema.params);
  const params =
    names.length === 0
      ? schema.params
      : {
          type: 'object',
          required: names,
          properties: Object.fromEntries(
            names.map((n) => [
              n,
              declared[n] ?? {
                type: 'string',
                ...(n === 'path' && wildcard ? { description: 'file path below the prefix' } : {}),
              },
            ]),
          ),
        };
  return {
    url: wildcard ? `${url.slice(0, -1)}{path}` : url,
    schema: {
      ...schema,
      security,
      ...(params ? { params } : {}),
      description: [
        schema.description,
        access === 'public'
          ? 'No credential.'
          : access === 'node'
            ? 'Needs a node credential.'
            : access === 'member'
              ? 'Needs a member credential (another controller of the store), over HTTPS.'
              : `Needs a token with role ${access} or above.`,
      ]
        .filter(Boolean)
        .join(' '),
    },
  };
}

/** The `properties` of a JSON object schema, or none. */
function propertiesOf(schema: unknown): Record<string, unknown> {
  if (typeof schema !== 'object' || schema === null || !('properties' in schema)) return {};
  const properties = schema.properties;
  return typeof properties === 'object' && properties !== null ? { ...properties } : {};
}

const httpMethods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** The methods another route takes on `path` when none takes `method` (empty: the path is unknown). */
function allowedMethods(app: KilnFastify, method: string, path: string): string[] {
  if (app.findRoute({ method: method, url: path })) return [];
  return httpMethods.filter((m) => app.findRoute({ method: m, url: path }) !== null);
}

/** Fastify's settings for the server it would make itself (lib/server.js), so a server made here behaves alike. */
interface ServerSettings {
  keepAliveTimeout?: number;
  requestTimeout?: number;
  connectionTimeout?: number;
  maxRequestsPerSocket?: number | null;
}

/** The HTTP server Fastify would make, with `fast` asked first for each request unless `closing()`. */
function serverWithFastPath(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  settings: ServerSettings,
  fast: NonNullable<AppDeps['fastPath']>,
  closing: () => boolean,
): Server {
  const server = createServer((req, res) => {
    if (closing() || !fast(req, res)) handler(req, res);
  });
  if (settings.keepAliveTimeout !== undefined) server.keepAliveTimeout = settings.keepAliveTimeout;
  if (settings.requestTimeout !== undefined) server.requestTimeout = settings.requestTimeout;
  server.setTimeout(settings.connectionTimeout ?? 0);
  if (settings.maxRequestsPerSocket) server.maxRequestsPerSocket = settings.maxRequestsPerSocket;
  return server;
}

/** Builds the Fastify app without listening (tests use `inject()`, `main` calls listen). */
export async function buildApp(deps: AppDeps): Promise<KilnFastify & { kilnRoutes: RouteEntry[] }> {
  const verbose = deps.logger ? deps.logger.isLevelEnabled('debug') : false;
  const fast = verbose ? undefined : deps.fastPath;
  let closing = false;
  const app = Fastify<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger>({
    ...(fast
      ? { serverFactory: (handler, settings) => serverWithFastPath(handler, settings, fast, () => closing) }
      : {}),
    loggerInstance: deps.logger || undefined,
    // One access line per request instead of Fastify's two (request-log.ts).
    disableRequestLogging: true,
    bodyLimit: deps.bodyLimit ?? 1_048_576,
    return503OnClosing: true,
    // Errors raised before a route is found get the same body as every other error.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: (err, request, reply) => {
      sendError(request, reply, err);
    },
    clientErrorHandler(this: FastifyInstance, err, socket) {
      answerClientError(this.log, err, socket);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Bodies are validated strictly (no type coercion: "5" is not 5, a string is
  // not a list); query strings, params and headers arrive as text, so there
  // numbers and lists are coerced. Unknown fields are errors, never dropped.
  const strict = new Ajv({
    removeAdditional: false,
    allErrors: true,
    coerceTypes: false,
    useDefaults: true,
    strict: false,
  });
  const lenient = new Ajv({
    removeAdditional: false,
    allErrors: true,
    coerceTypes: 'array',
    useDefaults: true,
    strict: false,
  });
  addFormats(strict);
  addFormats(lenient);
  installBoundsKeyword(strict);
  installBoundsKeyword(lenient);
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema));
  // Bodies are bounded in size (bodyLimit) and nesting depth before they are parsed.
  installJsonBodyParser(app);
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  const routes: RouteEntry[] = [];
  installAuth(app, deps.auth, routes);
  if (deps.logger) installRequestLog(app, deps.logRequests ?? 'changes', verbose);
  const inFlight = deps.inFlight;
  if (inFlight) {
    const answered = new WeakSet<object>();
    const done = (raw: object): void => {
      if (answered.has(raw)) return;
      answered.add(raw);
      inFlight(-1);
    };
    app.addHook('onRequest', async (_request, reply) => {
      inFlight(1);
      reply.raw.once('close', () => done(reply.raw));
    });
    app.addHook('onSend', async (_request, reply, payload) => {
      done(reply.raw);
      return payload;
    });
  }
  const onResponse = deps.onResponse;
  if (onResponse) {
    app.addHook('onResponse', async (request, reply) => {
      onResponse(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    });
  }
  const onExchange = deps.onExchange;
  if (onExchange) {
    app.addHook('onResponse', async (request, reply) => {
      const [path, query = ''] = request.url.split('?', 2);
      const length = Number(reply.getHeader('content-length'));
      const session = request.headers['x-kiln-session'];
      onExchange({
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        path,
        query,
        status: reply.statusCode,
        bytes: Number.isFinite(length) ? length : null,
        seconds: reply.elapsedTime / 1000,
        ip: request.ip,
        nodeHostId: request.principal?.kind === 'node' ? request.principal.hostId : null,
        session: typeof session === 'string' ? session : undefined,
        body: request.body,
      });
    });
  }
  app.setErrorHandler((err, request, reply) => sendError(request, reply, err));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0].slice(0, 200);
    const allowed = allowedMethods(app, request.method, path);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendError(
        request,
        reply,
        new KilnError('method_not_allowed', `${path} does not take ${request.method}; it takes ${allowed.join(', ')}`, {
          details: { allowed },
        }),
      );
    }
    return sendError(
      request,
      reply,
      new KilnError('route_not_found', `no route ${request.method} ${path}; see /api/v1/openapi.json`),
    );
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Kiln API', version: deps.version ?? '0.1.0', description: 'Bare-metal provisioning controller' },
      components: { securitySchemes: securitySchemes },
      security: [{ bearer: [] }],
    },
    transform: openapiOperation,
  });
  app.get(
    '/api/v1/health',
    {
      config: { access: 'public' },
      schema: { tags: ['health'], summary: 'liveness: answers {"status":"ok"} while the controller serves' },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/api/v1/openapi.json',
    { config: { access: 'viewer' }, schema: { tags: ['health'], summary: 'this OpenAPI document' } },
    async () => app.swagger(),
  );
  for (const p of deps.plugins) {
    await app.register(p.plugin, { ...(p.options ?? {}), prefix: p.prefix ?? '/api/v1' });
  }
  await app.ready();
  return Object.assign(app, { kilnRoutes: routes });
}
