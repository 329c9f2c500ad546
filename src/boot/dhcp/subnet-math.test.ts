import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { inCidr, inPools, ipToNumber, maskOf, numberToIp, poolAddress, poolSize } from './subnet-math.js';
import type { DhcpSubnet } from './dhcp-config.js';

const quad = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((q) => q.join('.'));
const viaIpaddr = (ip: string): number =>
  ipaddr.IPv4.parse(ip)
    .toByteArray()
    .reduce((n, b) => n * 256 + b, 0);

test('property: the hand-written dotted-quad parser agrees with ipaddr.js, and numberToIp inverts it', () => {
  fc.assert(
    fc.property(quad, (ip) => {
      assert.equal(ipToNumber(ip), viaIpaddr(ip));
      assert.equal(numberToIp(ipToNumber(ip)), ip);
    }),
    { numRuns: 2000 },
  );
});

test('odd forms go to ipaddr.js (same answer as before) and garbage still throws', () => {
  for (const odd of ['010.0.0.1', '0x0a.0.0.1', '10.1', '10.0.0']) assert.equal(ipToNumber(odd), viaIpaddr(odd), odd);
  for (const bad of ['', '10.0.0.256', 'a.b.c.d', '10.0.0.1 ']) assert.throws(() => ipToNumber(bad), bad);
});

test('property: inCidr and maskOf agree with ipaddr.js for every prefix length', () => {
  fc.assert(
    fc.property(quad, quad, fc.integer({ min: 0, max: 32 }), (ip, net, bits) => {
      const cidr = `${net}/${bits}`;
      const [n, b] = ipaddr.IPv4.parseCIDR(cidr);
      assert.equal(inCidr(ip, cidr), ipaddr.IPv4.parse(ip).match(n, b));
      assert.equal(maskOf(cidr), ipaddr.IPv4.subnetMaskFromPrefixLength(bits).toString());
    }),
    { numRuns: 2000 },
  );
});

test('pools: size, membership and the i-th address walk the ranges in order and wrap', () => {
  const s = {
    pools: [
      { start: '10.0.0.10', end: '10.0.0.12' },
      { start: '10.0.1.0', end: '10.0.1.1' },
    ],
  } as unknown as DhcpSubnet;
  assert.equal(poolSize(s), 5);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((i) => poolAddress(s, i)),
    ['10.0.0.10', '10.0.0.11', '10.0.0.12', '10.0.1.0', '10.0.1.1', '10.0.0.10'],
  );
  assert.equal(inPools('10.0.0.12', s), true);
  assert.equal(inPools('10.0.0.13', s), false);
  assert.equal(inPools('10.0.1.1', s), true);
});
