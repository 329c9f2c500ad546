// A rate_limited error tells the client the wait it computed (RFC 9110 §10.2.3 Retry-After), else a minute.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { KilnError } from '../error/kiln-error.js';
import { sendError } from './error-reply.js';

test('rate_limited answers Retry-After with details.retryAfter when the error computed one, else 60', async () => {
  const app = Fastify({ logger: false });
  app.get('/computed', (req, reply) =>
    sendError(req, reply, new KilnError('rate_limited', 'retry in 17 s', { details: { retryAfter: 17 } })),
  );
  app.get('/plain', (req, reply) => sendError(req, reply, new KilnError('rate_limited', 'slow down')));
  app.get('/bogus', (req, reply) =>
    sendError(req, reply, new KilnError('rate_limited', 'slow down', { details: { retryAfter: -3 } })),
  );
  const computed = await app.inject({ url: '/computed' });
  assert.equal(computed.statusCode, 429);
  assert.equal(computed.headers['retry-after'], '17');
  assert.equal((await app.inject({ url: '/plain' })).headers['retry-after'], '60');
  assert.equal((await app.inject({ url: '/bogus' })).headers['retry-after'], '60');
  await app.close();
});
