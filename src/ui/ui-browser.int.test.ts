// The web UI in a real browser: Debian's chromium driven by playwright-core
// (no downloaded browser), against a controller listening on loopback. DOM
// assertions only. A simulated fleet boots through the real HTTP routes (the
// per-host iPXE script, then the discovery report) while an operator watches
// the overview count them from new to ready without a reload; the operator
// opens one host's timeline, deploys it, and watches it reach deployed as the
// simulated node reports. A viewer sees no action buttons, and a forged POST
// from the viewer's page is refused. axe-core checks every page.
// Screenshots only with KILN_UI_SCREENSHOTS=dir (artefacts, never compared).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createTestController, type TestController } from '../../test/support/controller.js';

const chromiumPath = '/usr/bin/chromium';
const password = 'correct horse battery staple';
const fleet = 5;
const mac = (i: number) => `52:54:00:5e:00:${String(i).padStart(2, '0')}`;
const hostName = (i: number) => `vm-5254005e00${String(i).padStart(2, '0')}`;
const facts = (m: string, diskBytes = 2147483648) => ({
  bootMac: m,
  firmware: 'bios',
  cpu: { model: 'QEMU Virtual CPU', count: 2 },
  memory: { totalBytes: 790000000, installedBytes: 805306368 },
  nics: [{ name: 'eth0', mac: m, driver: 'virtio_net', link: 'up', speedMbps: null }],
  disks: [{ name: 'vda', sizeBytes: diskBytes, model: '', serial: '', rotational: true, removable: false }],
  pci: [],
  dmi: { vendor: 'QEMU', product: 'Standard PC', serial: '', uuid: 'u-1' },
  bmc: { present: false, ipAddress: '', macAddress: '' },
  lldp: null,
});

// Waits are selectors: the page's CSP forbids the eval a waitForFunction predicate needs.
const streamOpen = 'body[data-stream="open"]';
const countIs = (state: string, n: number) => `#fleet .n[data-state="${state}"]:text-is("${n}")`;

describe('web UI in headless Chromium', { skip: existsSync(chromiumPath) ? false : `needs ${chromiumPath}` }, () => {
  let c: TestController;
  let base = '';
  let browser: Browser;
  const creds: string[] = [];
  let deployedCred = '';
  const shots = process.env['KILN_UI_SCREENSHOTS'];

  const call = async (method: string, path: string, body?: unknown, auth?: string) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(auth ? { authorization: auth } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
    return text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const loggedIn = async (name: string): Promise<Page> => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/`);
    assert.match(page.url(), /\/ui\/login\?next=%2F$/);
    await page.fill('#name', name);
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
    return page;
  };
  const shot = async (page: Page, name: string) => {
    if (!shots) return;
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };

  before(async () => {
    c = await createTestController({
      boot: {
        imagesDir: mkdtempSync(join(tmpdir(), 'kiln-ui-images-')),
        nodeImage: () => ({ dir: '/nonexistent', arch: 'x86_64' }),
      },
      eventStream: { pollMs: 100 },
      // Heartbeats every second, unreachable after two missed: the health test below sees both within seconds.
      heartbeat: { intervalSeconds: 1, missedIntervals: 2, checkSeconds: 1, flushSeconds: 60, auditHours: 24 },
    });
    await c.heartbeat.start();
    base = await c.app.listen({ host: '127.0.0.1', port: 0 });
    await c.users.create({ name: 'olga', role: 'operator', password }, 'test');
    await c.users.create({ name: 'victor', role: 'viewer', password }, 'test');
    await call(
      'PUT',
      '/api/v1/rules/qemu',
      { match: { vendor: 'QEMU' }, assign: { name: 'vm-{mac}', profile: 'kiln-image' } },
      c.bearer.operator,
    );
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await c.close();
  });

  it('the overview follows a simulated fleet from new to ready without a reload', async () => {
    const page = await loggedIn('olga');
    await page.evaluate('window.notReloaded = true');
    await page.waitForSelector(streamOpen, { timeout: 10_000 });
    const count = (state: string) => page.textContent(`#fleet .n[data-state="${state}"]`);
    assert.equal((await count('ready'))?.trim(), '0');
    // Each machine asks for its iPXE script (Kiln creates it, discovering) and then reports its facts (ready).
    for (let i = 1; i <= fleet; i++) {
      const res = await fetch(
        `${base}/boot/host.ipxe?mac=${encodeURIComponent(mac(i))}&uuid=u-1&arch=x86_64&platform=pcbios`,
      );
      assert.equal(res.status, 200);
    }
    await page.waitForSelector(countIs('discovering', fleet), { timeout: 10_000 });
    await shot(page, 'overview-discovering');
    for (let i = 1; i <= fleet; i++)
      creds[i] = (await call('POST', '/api/v1/node/discover', { facts: facts(mac(i)) }))['credential'] as string;
    await page.waitForSelector(countIs('ready', fleet), { timeout: 10_000 });
    assert.equal((await count('discovering'))?.trim(), '0');
    assert.equal(await page.evaluate('window.notReloaded === true'), true);
    assert.ok(Number(await page.getAttribute('#fleet', 'data-refreshed')) >= 1);
    await shot(page, 'overview-ready');
    await page.context().close();
  });

  it('an operator opens a host timeline, deploys it, and sees it deployed', async () => {
    const page = await loggedIn('olga');
    await page.goto(`${base}/ui/hosts?state=ready`);
    assert.equal(await page.locator('table.hosts tbody tr').count(), fleet);
    await Promise.all([page.waitForURL(/\/ui\/hosts\/vm-/), page.click(`a[href="/ui/hosts/${hostName(1)}"]`)]);
    const stages = await page.locator('#host-timeline ol.timeline li').allTextContents();
    assert.ok(
      stages.some((s) => /ipxe-script/.test(s)),
      stages.join(' | '),
    );
    assert.match((await page.textContent('#host-timeline .session-summary')) ?? '', /ipxe-script/);
    await page.selectOption('select[name=profile]', 'kiln-image');
    await page.fill('input[name=variables]', 'imageName=busybox-test');
    await Promise.all([page.waitForURL(/done=deploy/), page.click('button[data-action=deploy]')]);
    assert.equal(await page.getAttribute('#host-state', 'data-state'), 'deploying');
    await page.waitForSelector(streamOpen, { timeout: 10_000 });
    // The node: the installer enrols, reports the install written, and first boot completes the deploy.
    const cred = (await call('POST', '/api/v1/node/enrol', { mac: mac(1) }))['credential'] as string;
    deployedCred = cred;
    await call('POST', '/api/v1/node/progress', { stage: 'installed', message: 'image written' }, `Bearer ${cred}`);
    await call('POST', '/api/v1/node/complete', { stage: 'firstboot' }, `Bearer ${cred}`);
    await page.waitForSelector('#host-state[data-state="deployed"]', { timeout: 10_000 });
    await shot(page, 'host-deployed');
    await page.context().close();
  });

  it("the deployed host's heartbeat shows on its page, and when it stops the overview lists it unreachable", async () => {
    assert.ok(deployedCred, 'the deploy test ran first');
    const beat = {
      bootId: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
      uptimeSeconds: 42,
      kernel: '6.1.0-test',
      load: [0.1, 0.2, 0.3],
      memory: { totalBytes: 805306368, availableBytes: 402653184 },
      disks: [{ mount: '/', sizeBytes: 2147483648, usedBytes: 536870912 }],
      agentVersion: 1,
    };
    const page = await loggedIn('olga');
    // Heard, then the page read within the one-second interval: on a loaded machine the page can take longer than
    // the two missed intervals, so the beat is sent again before each of a few bounded tries.
    let seen: string | null = null;
    for (let i = 0; i < 5 && seen !== 'ok'; i++) {
      await call('POST', '/api/v1/node/heartbeat', beat, `Bearer ${deployedCred}`);
      await page.goto(`${base}/ui/hosts/${hostName(1)}`);
      seen = await page.getAttribute('#host-health [data-health]', 'data-health');
    }
    assert.equal(seen, 'ok');
    assert.match((await page.textContent('#host-health')) ?? '', /6\.1\.0-test/);
    // The node falls silent: after two missed one-second intervals the overview (live) lists it.
    await page.goto(`${base}/`);
    await page.waitForSelector(streamOpen, { timeout: 10_000 });
    await page.waitForSelector(`#unreachable a:text-is("${hostName(1)}")`, { timeout: 15_000 });
    await page.goto(`${base}/ui/hosts/${hostName(1)}`);
    assert.equal(await page.getAttribute('#host-health [data-health]', 'data-health'), 'unreachable');
    await page.context().close();
  });

  it('the self-check page shows each check with its status, and a failing one with its fix', async () => {
    // Two checks of this test (the controller's own are added by `kiln serve`'s main): one passing, one broken.
    c.checks.add({ name: 'ui-test-ok', run: async () => ({ status: 'ok', detail: 'fine' }) });
    c.checks.add({
      name: 'ui-test-broken',
      run: async () => ({ status: 'fail', detail: '/srv/ipxe/undionly.kpxe is missing', fix: 'apt-get install ipxe' }),
    });
    const page = await loggedIn('victor');
    await page.goto(`${base}/ui/doctor`);
    assert.equal(await page.getAttribute('[data-doctor]', 'data-doctor'), 'fail');
    assert.equal(await page.getAttribute('tr[data-check="ui-test-ok"]', 'data-status'), 'ok');
    const broken = page.locator('tr[data-check="ui-test-broken"]');
    assert.equal(await broken.getAttribute('data-status'), 'fail');
    assert.match((await broken.textContent()) ?? '', /undionly\.kpxe is missing[^]*apt-get install ipxe/);
    await page.context().close();
  });

  it('a hardware change between two boots shows as a side-by-side diff on the host page', async () => {
    // The node's next report (its discovery credential) finds a bigger disk.
    await call('POST', '/api/v1/node/discover', { facts: facts(mac(3), 4294967296) }, `Bearer ${creds[3]}`);
    const page = await loggedIn('victor');
    await page.goto(`${base}/ui/hosts/${hostName(3)}`);
    const row = page.locator('table.diff tbody tr');
    assert.equal(await row.count(), 1);
    assert.match((await row.locator('td').nth(0).textContent()) ?? '', /disk vda/);
    assert.match((await row.locator('td.before').textContent()) ?? '', /2147483648 bytes/);
    assert.match((await row.locator('td.after').textContent()) ?? '', /4294967296 bytes/);
    await page.goto(`${base}/`);
    assert.match((await page.textContent('#fleet')) ?? '', new RegExp(hostName(3)), 'listed as needing attention');
    await page.context().close();
  });

  it('the events page adds each new event at the top as it commits, without a reload', async () => {
    const page = await loggedIn('victor');
    await page.goto(`${base}/ui/events`);
    await page.waitForSelector(streamOpen, { timeout: 10_000 });
    const before = await page.locator('#events tbody tr').count();
    await call('POST', '/api/v1/hosts', { name: 'live-1' }, c.bearer.operator);
    await page.waitForSelector('#events tbody tr:first-child td:text-is("host.created")', { timeout: 10_000 });
    assert.equal(await page.locator('#events tbody tr').count(), before + 1);
    assert.match((await page.textContent('#events tbody tr:first-child')) ?? '', /live-1/);
    await page.context().close();
  });

  it('a viewer sees no action buttons, and a forged POST from its page is refused', async () => {
    const page = await loggedIn('victor');
    await page.goto(`${base}/ui/hosts/${hostName(2)}`);
    assert.equal(await page.locator('[data-action]').count(), 0);
    assert.equal(await page.locator('form[action^="/ui/hosts/"]').count(), 0);
    // A string, not a function: the test runner's transpiler would add helpers the page does not have.
    const forged = (await page.evaluate(`(async () => {
      const csrf = document.querySelector('input[name=_csrf]').value;
      const send = (body) =>
        fetch('/ui/hosts/${hostName(2)}/deploy', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
          body,
        }).then((r) => r.status);
      return { withToken: await send('_csrf=' + encodeURIComponent(csrf) + '&profile=kiln-image'), without: await send('profile=kiln-image') };
    })()`)) as { withToken: number; without: number };
    assert.deepEqual(forged, { withToken: 403, without: 403 });
    const h = await call('GET', `/api/v1/hosts/${hostName(2)}`, undefined, c.bearer.viewer);
    assert.equal(h['state'], 'ready');
    await page.context().close();
  });

  it('axe-core finds no serious or critical violation on any page', async () => {
    // axe is injected as a script: this context alone lets it past the page's CSP.
    const ctx = await browser.newContext({ bypassCSP: true });
    const page = await ctx.newPage();
    await page.goto(`${base}/ui/login`);
    const pages = [
      '/ui/login',
      '/',
      '/ui/hosts',
      `/ui/hosts/${hostName(1)}`,
      `/ui/hosts/${hostName(3)}`,
      '/ui/events',
      '/ui/leases',
      '/ui/profiles',
      '/ui/network',
      '/ui/doctor',
    ];
    const found: string[] = [];
    for (const [i, path] of pages.entries()) {
      if (i === 1) {
        await page.fill('#name', 'olga');
        await page.fill('#password', password);
        await Promise.all([page.waitForURL(`${base}/`), page.click('button[type=submit]')]);
      } else await page.goto(`${base}${path}`);
      await page.addScriptTag({ content: axe.source });
      const violations = (await page.evaluate(
        'axe.run().then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, n: v.nodes.length })))',
      )) as Array<{ id: string; impact: string; n: number }>;
      for (const v of violations)
        if (v.impact === 'serious' || v.impact === 'critical')
          found.push(`${path}: ${v.id} (${v.impact}, ${v.n} nodes)`);
    }
    assert.deepEqual(found, []);
    await ctx.close();
  });
});
