// Bare HTTP baselines for the benches (not part of Kiln): what one request costs below Kiln's own stack.
// `node`: a node:http server; `fastify`: the Fastify Kiln pins, no logger, no hooks, one route. Both answer every
// GET with a text body of `bytes` bytes (default 122, the per-host script's mean), the headers Kiln's script has
// (content-type, content-length; Node adds date, connection and keep-alive).
// Usage: node bench/http-hello-server.mjs node|fastify <port> [bytes]; prints "ready", serves until SIGTERM.
import { createServer } from 'node:http';
import Fastify from 'fastify';

const [kind, port, bytes = '122'] = process.argv.slice(2);
if ((kind !== 'node' && kind !== 'fastify') || !port)
  throw new Error('usage: http-hello-server.mjs node|fastify <port>');
const body = `#!ipxe\n${'x'.repeat(Math.max(0, Number(bytes) - 8))}\n`;
const type = 'text/plain; charset=utf-8';
let close;
if (kind === 'node') {
  const length = String(Buffer.byteLength(body));
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': type, 'content-length': length });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(Number(port), '127.0.0.1', resolve));
  close = () => new Promise((resolve) => server.close(resolve));
} else {
  const app = Fastify({ logger: false });
  app.get('/*', async (_req, reply) => reply.type(type).send(body));
  await app.listen({ host: '127.0.0.1', port: Number(port) });
  close = () => app.close();
}
process.on('SIGTERM', () => {
  void close().then(() => process.exit(0));
});
console.log('ready');
