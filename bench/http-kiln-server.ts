// Kiln's boot-file HTTP serving as its own process for the benchmark.
// Usage: node --import tsx bench/http-kiln-server.ts <root> <port>; prints "ready", serves until SIGTERM.
import Fastify from 'fastify';
import { bootFilesPlugin } from '../src/boot/http/boot-files.js';

const [root, port] = process.argv.slice(2);
if (!root || !port) throw new Error('usage: http-kiln-server.ts <root> <port>');
const app = Fastify({ logger: false });
await app.register(bootFilesPlugin, { root, urlPrefix: '/boot/' });
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)); });
console.log('ready');
