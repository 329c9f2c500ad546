// Kiln's TFTP server as its own process for the benchmarks, so the bench
// harness (which spawns clients) does not share its event loop.
// Usage: node --import tsx bench/tftp-kiln-server.ts <root> <port> [native|js] [nativeNice=0]; prints "ready" then serves until SIGTERM.
// nativeNice defaults to 0 here, not to the controller's 19: this process has no DHCP or HTTP to yield to.
import { createDirectorySource } from '../src/boot/tftp/directory-source.js';
import { startTftpServer } from '../src/boot/tftp/tftp-server.js';
import { defaultTftpConfig } from '../src/boot/tftp/tftp-config.js';

const [root, port, engine = 'native', nice = '0'] = process.argv.slice(2);
if (!root || !port || (engine !== 'native' && engine !== 'js'))
  throw new Error('usage: tftp-kiln-server.ts <root> <port> [native|js]');
const ac = new AbortController();
const server = await startTftpServer({
  config: { ...defaultTftpConfig, address: '127.0.0.1', engine, nativeNice: Number(nice) },
  source: await createDirectorySource(root),
  port: Number(port),
  signal: ac.signal,
});
process.on('SIGTERM', () => {
  ac.abort();
  void server.close().then(() => process.exit(0));
});
if (server.engine !== engine)
  throw new Error(`asked for the ${engine} engine, got ${server.engine} (is native/tftp-pump built?)`);
console.log('ready');
