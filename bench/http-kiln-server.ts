// Kiln's boot-file HTTP serving as its own process for the benchmark.
// Usage: node --import tsx bench/http-kiln-server.ts <root> <port> [cache-bytes]; prints "ready", serves until SIGTERM.
// cache-bytes: the boot-file memory cache (http-cache-mib), default as in kiln serve; 0 streams from disk.
import Fastify from 'fastify';
import { bootFilesPlugin } from '../src/boot/http/boot-files.js';
import { createBootFileCache, DEFAULT_BOOT_CACHE_BYTES } from '../src/boot/http/boot-file-cache.js';

const [root, port, cacheArg] = process.argv.slice(2);
if (!root || !port) throw new Error('usage: http-kiln-server.ts <root> <port>');
const app = Fastify({ logger: false });
const cache = createBootFileCache(cacheArg === undefined ? DEFAULT_BOOT_CACHE_BYTES : Number(cacheArg));
await app.register(bootFilesPlugin, { root, urlPrefix: '/boot/', cache });
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
console.log('ready');
