import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBootDeploymentCache } from './boot-deployment-cache.js';
import type { BootDeployment } from './deployment.js';

const d = (id: string, status = 'deploying'): BootDeployment => ({
  id,
  profile: 'debian-12',
  status: status as BootDeployment['status'],
  bootSpec: { kernel: 'http://m/linux', initrd: ['http://m/initrd.gz'], cmdline: 'auto=true' },
});

describe('boot deployment cache', () => {
  it('answers a host from memory after the first read (a host without a deployment too), and reads again after a change', async () => {
    const cache = createBootDeploymentCache();
    let reads = 0;
    const stored = new Map<string, BootDeployment | null>([
      ['h1', d('d1')],
      ['h2', null],
    ]);
    const load = async (id: string) => {
      reads++;
      return stored.get(id) ?? null;
    };
    assert.equal((await cache.get('h1', load))?.id, 'd1');
    assert.equal((await cache.get('h1', load))?.id, 'd1');
    assert.equal(await cache.get('h2', load), null);
    assert.equal(await cache.get('h2', load), null);
    assert.equal(reads, 2);
    assert.ok(Object.isFrozen(await cache.get('h1', load)));
    stored.set('h1', d('d1', 'installed'));
    cache.changed();
    assert.equal((await cache.get('h1', load))?.status, 'installed');
    assert.equal(reads, 3);
  });

  it('a read that overlapped a change is answered but not kept (it may have read the row before the change)', async () => {
    const cache = createBootDeploymentCache();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = cache.get('h1', async () => {
      await gate;
      return d('old');
    });
    cache.changed();
    release();
    assert.equal((await slow)?.id, 'old');
    assert.equal(cache.size(), 0);
    assert.equal((await cache.get('h1', async () => d('new')))?.id, 'new');
  });

  it('keeps at most max hosts, the oldest out first', async () => {
    const cache = createBootDeploymentCache(2);
    for (const id of ['h1', 'h2', 'h3']) await cache.get(id, async () => d(`d-${id}`));
    assert.equal(cache.size(), 2);
    let reads = 0;
    await cache.get('h1', async () => {
      reads++;
      return d('d-h1');
    });
    assert.equal(reads, 1, 'h1 was pushed out');
  });
});
