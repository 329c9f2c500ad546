// Test-only capture listener for capture.sh: receives syslog on 127.0.0.1:<port>
// over UDP and TCP and appends what arrives to <out> as hex, one record a line:
//   udp <hex of one datagram>
//   tcp <hex of everything one connection sent, written when it closes or we stop>
// Creates <out-file>.ready once both sockets listen; runs until SIGTERM.
// Usage: node capture-listener.mjs <port> <out-file>
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { appendFileSync, writeFileSync } from 'node:fs';

const [port, out] = [Number(process.argv[2]), process.argv[3]];
writeFileSync(out, '');
const udp = createSocket('udp4');
udp.on('message', (msg) => appendFileSync(out, `udp ${msg.toString('hex')}\n`));
let bound = 0;
const ready = () => ++bound === 2 && writeFileSync(`${out}.ready`, '');
udp.bind(port, '127.0.0.1', ready);
const open = new Set();
const flush = (chunks) => {
  if (open.delete(chunks)) appendFileSync(out, `tcp ${Buffer.concat(chunks).toString('hex')}\n`);
};
const tcp = createServer((conn) => {
  const chunks = [];
  open.add(chunks);
  conn.on('data', (c) => chunks.push(c));
  conn.on('close', () => flush(chunks));
});
tcp.listen(port, '127.0.0.1', ready);
// A sender that keeps its connection open (rsyslog's omfwd) is written out when we are stopped.
process.on('SIGTERM', () => {
  for (const chunks of [...open]) flush(chunks);
  udp.close();
  tcp.close();
  process.exit(0);
});
