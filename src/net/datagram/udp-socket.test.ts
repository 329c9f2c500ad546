import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { test } from 'node:test';
import type { UdpPeer } from './datagram-socket.js';
import { createMemoryNetwork, createMemorySocket } from './memory-socket.js';
import { bindUdpSocket } from './udp-socket.js';

const loopback = { address: '127.0.0.1', port: 0 };
const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
};

test('real UDP on loopback: plain bytes and peer to the handler; a connected socket sends only to its peer', async () => {
  const server = await bindUdpSocket(loopback, { broadcast: true, recvBufferSize: 256 * 1024 });
  const got: Array<[Uint8Array, UdpPeer]> = [];
  server.receive((b, from) => got.push([b, from]));
  const client = await bindUdpSocket(loopback, { connectTo: server.local });
  client.send(Uint8Array.of(1, 2, 3), { address: '127.0.0.1', port: 9 }); // not its peer: dropped
  client.send(Uint8Array.of(4, 5), server.local);
  await until(() => got.length > 0);
  try {
    assert.equal(got.length, 1);
    const [bytes, from] = got[0];
    assert.equal(Buffer.isBuffer(bytes), false);
    assert.deepEqual([...bytes], [4, 5]);
    assert.deepEqual(from, client.local);
    assert.ok(server.recvBufferBytes() > 0);
    assert.ok(server.fd() >= 0);
  } finally {
    client.close();
    server.close();
    server.close(); // idempotent
  }
});

test('real UDP: an errno that means the socket is gone is a death, reported once; close() asked for is none', async () => {
  let raw: Socket | undefined;
  const seen: string[] = [];
  const sock = await bindUdpSocket(loopback, {
    onBound: (s) => {
      raw = s;
    },
    onError: (e, op) => seen.push(`${op} ${e.code}`),
    onDeath: (e) => seen.push(`death ${e.code}`),
  });
  raw!.emit('error', Object.assign(new Error('no such device'), { code: 'ENODEV' }));
  raw!.emit('error', Object.assign(new Error('bad fd'), { code: 'EBADF' }));
  sock.close();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(seen, ['receive ENODEV', 'death ENODEV', 'receive EBADF']);
});

test('memory fakes: a lone socket records its sends; a network delivers between its sockets', async () => {
  const lone = createMemorySocket({ address: '10.0.0.1', port: 67 });
  const heard: number[] = [];
  lone.receive((b) => heard.push(b[0]));
  lone.inject(Uint8Array.of(7), { address: '10.0.0.9', port: 68 });
  lone.send(Uint8Array.of(8), { address: '10.0.0.9', port: 68 });
  assert.deepEqual(heard, [7]);
  assert.deepEqual(lone.sent, [{ bytes: Uint8Array.of(8), to: { address: '10.0.0.9', port: 68 } }]);
  const net = createMemoryNetwork();
  const a = await net.bind({ address: '10.0.0.1', port: 69 });
  const b = await net.bind({ address: '10.0.0.2', port: 0 });
  const got: UdpPeer[] = [];
  a.receive((_bytes, from) => got.push(from));
  b.send(Uint8Array.of(1), a.local);
  await until(() => got.length > 0);
  assert.deepEqual(got, [b.local]);
  assert.deepEqual([...net.open].sort(), ['10.0.0.1:69', `10.0.0.2:${b.local.port}`]);
});
