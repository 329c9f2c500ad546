import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatControllers, formatLoad } from './controller.js';

test("controller list: each member's load in a few words", () => {
  assert.equal(formatLoad(null), '-');
  assert.equal(formatLoad(undefined), '-', 'an older controller sends none');
  assert.equal(formatLoad({ booting: 12, late: 0, sign: null, room: null }), '12 booting');
  assert.equal(
    formatLoad({
      booting: 300,
      late: 4,
      sign: 'TFTP at 600 of 1000 transfers',
      room: { slots: 256, loading: 256, waiting: 30 },
    }),
    '300 booting (4 late), room 256/256 +30 waiting, congested: TFTP at 600 of 1000 transfers',
  );
  const out = formatControllers([
    {
      id: '0123456789abcdef',
      name: 'a',
      url: 'http://10.0.0.1:8080',
      version: '0.1.0',
      startedAt: '2026-12-07T18:00:00.000Z',
      lastSeen: '2026-12-07T18:00:01.000Z',
      silentSeconds: 0.4,
      health: 'healthy',
      roles: [{ role: 'power-polling', term: 3, since: '2026-12-07T18:00:00.000Z' }],
      load: { booting: 5, late: 0, sign: null, room: { slots: 256, loading: 5, waiting: 0 } },
    },
  ]);
  assert.match(out, /^NAME\s+HEALTH\s+LAST SEEN\s+ROLES\s+LOAD\s+URL\s+ID$/m);
  assert.match(
    out,
    /^a\s+healthy\s+0.4s ago\s+power-polling#3\s+5 booting, room 5\/256\s+http:\/\/10.0.0.1:8080\s+01234567$/m,
  );
});
