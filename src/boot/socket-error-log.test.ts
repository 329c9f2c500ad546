import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { test } from 'node:test';
import { createMemoryLogger } from '../log/logger.js';
import { createMetrics } from '../metrics/metrics.js';
import { bindDhcpSocket } from './dhcp/dhcp-listeners.js';
import { createSocketErrorLog } from '../net/datagram/socket-error-log.js';
import { bindUdpSocket } from '../net/datagram/udp-socket.js';

const errno = (code: string) => Object.assign(new Error(`${code} message`), { code });

test('socket errors: the first of each errno per window is logged with its errno, the rest counted into the next line; every one is counted in /metrics', async () => {
  const log = createMemoryLogger();
  const metrics = createMetrics({}, { processMetrics: false });
  let t = 0;
  const report = createSocketErrorLog({
    server: 'dhcp',
    log,
    count: (s, op, e) => metrics.observeSocketError(s, op, e),
    windowMs: 10_000,
    now: () => t,
  });
  for (let i = 0; i < 1000; i++) report(errno('ENETUNREACH'), 'send', { interface: '*', port: 67 });
  report(errno('ENOBUFS'), 'send', { interface: '*', port: 67 });
  t = 10_001;
  report(errno('ENETUNREACH'), 'send', { interface: '*', port: 67 });
  assert.deepEqual(
    log.lines.map((l) => [l.level, l.msg]),
    [
      ['warn', 'dhcp: socket send error ENETUNREACH'],
      ['warn', 'dhcp: socket send error ENOBUFS'],
      ['warn', 'dhcp: socket send error ENETUNREACH (999 more of these since the last line)'],
    ],
  );
  assert.equal((log.lines[0].obj as { errno: string }).errno, 'ENETUNREACH');
  const text = await metrics.registry.metrics();
  assert.match(text, /kiln_socket_errors_total\{server="dhcp",op="send",errno="ENETUNREACH"\} 1001/);
  assert.match(text, /kiln_socket_errors_total\{server="dhcp",op="send",errno="ENOBUFS"\} 1/);
});

test('real DHCP and TFTP sockets report send errors with their errno, receive errors, and a close they did not ask for as death', async () => {
  const seen: string[] = [];
  let raw: Socket | undefined;
  const dhcp = await bindDhcpSocket('127.0.0.1', 0, {
    onBound: (s) => {
      raw = s;
    },
    onError: (e, op) => seen.push(`dhcp ${op} ${e.code}`),
    onDeath: (e) => seen.push(`dhcp death ${e.code}`),
  });
  // Port 0 is not a destination: the kernel (or Node) refuses the send; the error must reach the reporter.
  dhcp.send(Uint8Array.of(1), { address: '127.0.0.1', port: 0 });
  raw!.emit('error', errno('ENOBUFS'));
  raw!.close();
  const tftp = await bindUdpSocket(
    { address: '127.0.0.1', port: 0 },
    { onError: (e, op) => seen.push(`tftp ${op} ${e.code}`), onDeath: (e) => seen.push(`tftp death ${e.code}`) },
  );
  tftp.send(Uint8Array.of(1), { address: '127.0.0.1', port: 0 });
  for (let i = 0; i < 100 && seen.length < 5; i++) await new Promise((r) => setTimeout(r, 5));
  tftp.close();
  dhcp.close();
  assert.ok(
    seen.some((s) => /^dhcp send E/.test(s)),
    seen.join(', '),
  );
  assert.ok(seen.includes('dhcp receive ENOBUFS'), seen.join(', '));
  assert.ok(seen.includes('dhcp death ECLOSED'), seen.join(', '));
  assert.ok(
    seen.some((s) => /^tftp send E/.test(s)),
    seen.join(', '),
  );
  assert.ok(!seen.some((s) => s.startsWith('tftp death')), 'close() asked for is no death');
});
