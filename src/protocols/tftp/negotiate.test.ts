import { test } from 'node:test';
import assert from 'node:assert/strict';
import { negotiateTftpOptions, type TftpNegotiation } from './negotiate.js';
import type { TftpOption } from './packet.js';

const limits = { maxBlksize: 8192, maxWindowsize: 64 };
const o = (name: string, value: string): TftpOption => ({ name, value });

test('negotiates each option by the RFC and the server limits (table)', () => {
  const cases: Array<{ name: string; req: TftpOption[]; want: TftpNegotiation }> = [
    {
      name: 'no options: plain RFC 1350',
      req: [],
      want: { ok: true, options: { blksize: 512, windowsize: 1, timeoutSec: null }, oack: [] },
    },
    {
      name: 'blksize accepted as asked',
      req: [o('blksize', '1468')],
      want: { ok: true, options: { blksize: 1468, windowsize: 1, timeoutSec: null }, oack: [o('blksize', '1468')] },
    },
    {
      name: 'blksize above limit is lowered',
      req: [o('BLKSIZE', '65464')],
      want: { ok: true, options: { blksize: 8192, windowsize: 1, timeoutSec: null }, oack: [o('BLKSIZE', '8192')] },
    },
    {
      name: 'blksize below 8 is refused',
      req: [o('blksize', '7')],
      want: { ok: false, reason: 'blksize 7 is below 8' },
    },
    {
      name: 'tsize answered with the size',
      req: [o('tsize', '0')],
      want: { ok: true, options: { blksize: 512, windowsize: 1, timeoutSec: null }, oack: [o('tsize', '1234')] },
    },
    {
      name: 'timeout echoed',
      req: [o('timeout', '3')],
      want: { ok: true, options: { blksize: 512, windowsize: 1, timeoutSec: 3 }, oack: [o('timeout', '3')] },
    },
    { name: 'timeout 0 refused', req: [o('timeout', '0')], want: { ok: false, reason: 'timeout 0 is outside 1..255' } },
    {
      name: 'timeout 256 refused',
      req: [o('timeout', '256')],
      want: { ok: false, reason: 'timeout 256 is outside 1..255' },
    },
    {
      name: 'windowsize lowered to limit',
      req: [o('windowsize', '100')],
      want: { ok: true, options: { blksize: 512, windowsize: 64, timeoutSec: null }, oack: [o('windowsize', '64')] },
    },
    {
      name: 'windowsize 0 refused',
      req: [o('windowsize', '0')],
      want: { ok: false, reason: 'windowsize 0 is below 1' },
    },
    {
      name: 'non-numeric refused',
      req: [o('blksize', '1e3')],
      want: { ok: false, reason: 'option blksize value "1e3" is not a decimal number' },
    },
    {
      name: 'unknown option ignored',
      req: [o('multicast', ''), o('tsize', '0')],
      want: { ok: true, options: { blksize: 512, windowsize: 1, timeoutSec: null }, oack: [o('tsize', '1234')] },
    },
    {
      name: 'repeated option: first wins',
      req: [o('blksize', '1024'), o('blksize', '2048')],
      want: { ok: true, options: { blksize: 1024, windowsize: 1, timeoutSec: null }, oack: [o('blksize', '1024')] },
    },
  ];
  for (const c of cases) assert.deepEqual(negotiateTftpOptions(c.req, 1234, limits), c.want, c.name);
});

test('a disabled option is ignored like an unknown one', () => {
  const r = negotiateTftpOptions([o('windowsize', '16')], 0, { ...limits, enabled: { windowsize: false } });
  assert.deepEqual(r, { ok: true, options: { blksize: 512, windowsize: 1, timeoutSec: null }, oack: [] });
});
