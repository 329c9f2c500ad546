// The boot waiting room through the controller: past boot.max-loading, a host whose script would load a kernel
// gets a wait script with its place in the queue, the timeline shows it queued (in progress, not stalled), and its
// slot comes when a loading host's initrd has been fetched.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestController } from '../../../test/support/controller.js';
import { parseMac } from '../../net/mac.js';

const macOf = (i: number) => `52:54:00:6a:00:${i.toString(16).padStart(2, '0')}`;
const scriptUrl = (i: number) => `/boot/host.ipxe?mac=${macOf(i)}&platform=efi&arch=x86_64`;

test('boot waiting room: past max-loading a deploying host waits its turn, and a finished load lets the first in the queue through', async () => {
  let t = Date.parse('2026-12-07T10:00:00Z');
  const c = await createTestController({
    boot: { loadingGate: { maxLoading: 2 } },
    now: () => new Date(t),
  });
  try {
    const op = { authorization: c.bearer.operator };
    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const made = await c.app.inject({
        method: 'POST',
        url: '/api/v1/hosts',
        headers: op,
        payload: { name: `wr-${i}`, state: 'ready', nics: [{ mac: macOf(i) }] },
      });
      assert.equal(made.statusCode, 201, made.body);
      ids[i] = made.json<{ id: string }>().id;
      const dep = await c.app.inject({
        method: 'POST',
        url: `/api/v1/hosts/wr-${i}/deploy`,
        headers: op,
        payload: { profile: 'debian-12' },
      });
      assert.equal(dep.statusCode, 200, dep.body);
    }
    const fetch = async (i: number) => {
      const res = await c.app.inject({ url: scriptUrl(i) });
      assert.equal(res.statusCode, 200, res.body);
      return res.body;
    };
    assert.match(await fetch(1), /installing profile debian-12/);
    assert.match(await fetch(2), /installing profile debian-12/);
    const third = await fetch(3);
    assert.match(third, /2 machines are loading their kernel from this controller; wr-3 is 1 of 1 waiting/);
    assert.doesNotMatch(third, /^kernel /m);
    // It asks again on its own URL after the wait (2 s: no load has finished yet to time it by).
    assert.match(third, /^sleep 2$/m);
    assert.ok(third.includes(`chain --replace --autofree http`), third);
    t += 1000;
    assert.match(await fetch(4), /wr-4 is 2 of 2 waiting/);

    // The timeline: wr-3 is queued, in progress (expecting its kernel), not stalled.
    const m3 = parseMac(macOf(3))!;
    const host3 = { id: ids[3]!, name: 'wr-3', macs: [m3] };
    const view = await c.timeline.timeline(host3);
    assert.equal(view?.purpose, 'queued');
    assert.equal(view?.status, 'in-progress');
    assert.equal(view?.expected, 'kernel');

    // wr-1's initrd is fetched (the timeline files it under wr-1's MAC): its slot goes to wr-3, not to wr-4.
    t += 1000;
    c.timeline.learnAddress('10.9.0.1', parseMac(macOf(1))!);
    await c.timeline.observe({ ip: '10.9.0.1' }, { stage: 'initrd', outcome: 'ok', detail: 'initrd over HTTP' });
    assert.match(await fetch(4), /wr-4 is 2 of 2 waiting/);
    assert.match(await fetch(3), /installing profile debian-12/);
    assert.match(await fetch(4), /wr-4 is 1 of 1 waiting/);
    assert.equal((await c.timeline.timeline(host3))?.purpose, 'install');
  } finally {
    await c.close();
  }
});

test('boot waiting room: a load ends by the address its script was fetched from, with no MAC known for it', async () => {
  let t = Date.parse('2026-12-07T10:00:00Z');
  const c = await createTestController({
    boot: { loadingGate: { maxLoading: 1 } },
    now: () => new Date(t),
  });
  try {
    const op = { authorization: c.bearer.operator };
    for (let i = 1; i <= 2; i++) {
      const made = await c.app.inject({
        method: 'POST',
        url: '/api/v1/hosts',
        headers: op,
        payload: { name: `wa-${i}`, state: 'ready', nics: [{ mac: macOf(i) }] },
      });
      assert.equal(made.statusCode, 201, made.body);
      const dep = await c.app.inject({
        method: 'POST',
        url: `/api/v1/hosts/wa-${i}/deploy`,
        headers: op,
        payload: { profile: 'debian-12' },
      });
      assert.equal(dep.statusCode, 200, dep.body);
    }
    // Both machines behind one address the timeline has no MAC for (a NAT, or a shared simulator source).
    const fetch = async (i: number) => {
      const res = await c.app.inject({ url: scriptUrl(i), remoteAddress: '192.0.2.50' });
      assert.equal(res.statusCode, 200, res.body);
      return res.body;
    };
    const first = await fetch(1);
    const initrd = /^initrd --name \S+ (\S+)/m.exec(first)?.[1];
    assert.ok(initrd, first);
    assert.match(await fetch(2), /wa-2 is 1 of 1 waiting/);
    t += 3000;
    const path = new URL(initrd).pathname + new URL(initrd).search;
    const got = await c.app.inject({ url: path, remoteAddress: '192.0.2.50' });
    // Answered or refused, the load is over: wa-1's slot goes to wa-2.
    assert.ok(got.statusCode < 500, `${got.statusCode} ${path}`);
    assert.match(await fetch(2), /installing profile debian-12/);
  } finally {
    await c.close();
  }
});
