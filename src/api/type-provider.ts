import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyPluginAsync,
  FastifyPluginOptions,
  FastifyTypeProvider,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Static, TSchema } from '@sinclair/typebox';

/**
 * Types `req.body`, `params`, `query`, `headers` and the handler's reply from
 * the route's TypeBox schemas. Written here rather than taken from
 * `@fastify/type-provider-typebox` 6, whose `Static` is TypeBox 1.x's: it
 * misreads some of our `@sinclair/typebox` 0.34 schemas (a union built from an
 * array becomes `never`). Same shape as that package's provider for 0.34.
 */
export interface TypeBoxTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
  serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
}

/** The Fastify instance every domain plugin receives: routes typed from their schemas. */
export type KilnFastify = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** A domain's routes plugin; `Options` are what `main` hands it (its services and settings). */
export type FastifyPluginAsyncTypebox<Options extends FastifyPluginOptions = Record<never, never>> = FastifyPluginAsync<
  Options,
  RawServerDefault,
  TypeBoxTypeProvider
>;
