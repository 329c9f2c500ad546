import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { bindDhcpListener } from '../../boot/dhcp/dhcp-listeners.js';
import { forceRecvBuffer } from './bind-to-device.js';
import { bindUdpSocket } from './udp-socket.js';

const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
const root = process.getuid?.() === 0;

test(
  'SO_RCVBUFFORCE: a DHCP socket gets the receive buffer dhcp.receiveBufferKiB asks for, past net.core.rmem_max',
  { skip: root ? false : 'needs CAP_NET_ADMIN (root)' },
  async () => {
    // Twice the cap, so a plain SO_RCVBUF could not grant it (the kernel reports double what was set: socket(7)).
    const wanted = Math.max(rmemMax * 2, 8 * 1024 * 1024);
    const plain = await bindUdpSocket({ address: '127.0.0.1', port: 0 }, { recvBufferSize: wanted });
    const l = await bindDhcpListener(
      { address: '127.0.0.1', port: 0, subnets: [], recvBufferBytes: wanted },
      undefined,
      false,
    );
    try {
      assert.ok(plain.recvBufferBytes() <= rmemMax, `plain SO_RCVBUF is capped at rmem_max (${rmemMax})`);
      assert.equal(l.recvBufferBytes, wanted);
    } finally {
      plain.close();
      l.socket.close();
    }
  },
);

test('SO_RCVBUFFORCE: a bad size or descriptor is refused with the reason, not thrown', () => {
  const bad = forceRecvBuffer(-1, 1024);
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.why, /fd must be a non-negative integer|not built|needs Linux/);
  const zero = forceRecvBuffer(0, 0);
  assert.equal(zero.ok, false);
});
