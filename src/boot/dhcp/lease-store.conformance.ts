import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Lease, LeaseStore } from './lease-store.js';

const lease = (ip: string, mac: string, expiresAt: number): Lease => ({
  ip,
  mac,
  subnet: '10.0.0.0/24',
  expiresAt,
  state: 'bound',
  hostname: undefined,
});

/** The LeaseStore contract, run against every implementation; `make` returns a fresh, empty store. */
export function leaseStoreConformance(
  name: string,
  make: () => Promise<{ store: LeaseStore; close(): Promise<void> }>,
): void {
  const withStore = (title: string, fn: (s: LeaseStore) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      const { store, close } = await make();
      try {
        await fn(store);
      } finally {
        await close();
      }
    });

  withStore('put then get by MAC and by IP', async (s) => {
    assert.deepEqual(await s.putMany([lease('10.0.0.10', 'aa:00:00:00:00:01', 2000)], 1000), ['ok']);
    assert.equal((await s.getByMac('aa:00:00:00:00:01', '10.0.0.0/24'))?.ip, '10.0.0.10');
    assert.equal((await s.getByIp('10.0.0.10'))?.mac, 'aa:00:00:00:00:01');
    assert.equal((await s.getByIp('10.0.0.10'))?.expiresAt, 2000);
  });

  withStore('an unexpired address is refused to a second MAC, in one batch and across batches', async (s) => {
    assert.deepEqual(
      await s.putMany(
        [lease('10.0.0.10', 'aa:00:00:00:00:01', 2000), lease('10.0.0.10', 'aa:00:00:00:00:02', 2000)],
        1000,
      ),
      ['ok', 'conflict'],
    );
    assert.deepEqual(await s.putMany([lease('10.0.0.10', 'aa:00:00:00:00:02', 3000)], 1500), ['conflict']);
    assert.equal((await s.getByIp('10.0.0.10'))?.mac, 'aa:00:00:00:00:01');
  });

  withStore('an expired address goes to the next MAC; the same MAC renews', async (s) => {
    await s.putMany([lease('10.0.0.10', 'aa:00:00:00:00:01', 2000)], 1000);
    assert.deepEqual(await s.putMany([lease('10.0.0.10', 'aa:00:00:00:00:01', 5000)], 1500), ['ok']);
    assert.deepEqual(await s.putMany([lease('10.0.0.10', 'aa:00:00:00:00:02', 9000)], 6000), ['ok']);
    assert.equal((await s.getByIp('10.0.0.10'))?.mac, 'aa:00:00:00:00:02');
  });

  withStore('a MAC that moves to a new address drops its old one; release frees only its own', async (s) => {
    await s.putMany([lease('10.0.0.10', 'aa:00:00:00:00:01', 2000)], 1000);
    await s.putMany([lease('10.0.0.11', 'aa:00:00:00:00:01', 2000)], 1000);
    assert.equal(await s.getByIp('10.0.0.10'), undefined);
    await s.release('10.0.0.11', 'aa:00:00:00:00:99', 1500);
    assert.equal((await s.getByIp('10.0.0.11'))?.expiresAt, 2000, "another MAC's RELEASE changes nothing");
    await s.release('10.0.0.11', 'aa:00:00:00:00:01', 1500);
    assert.equal((await s.list('10.0.0.0/24')).length, 1);
    assert.equal((await s.getByIp('10.0.0.11'))?.expiresAt, 1500);
  });

  withStore(
    "a released lease ends at the release and stays the MAC's previous binding until another MAC takes the address",
    async (s) => {
      const mac = 'aa:00:00:00:00:01';
      await s.putMany([lease('10.0.0.10', mac, 2000)], 1000);
      await s.release('10.0.0.10', mac, 1200);
      const previous = await s.getByMac(mac, '10.0.0.0/24');
      assert.deepEqual([previous?.ip, previous?.expiresAt, previous?.state], ['10.0.0.10', 1200, 'bound']);
      // A second RELEASE does not move the end forward or back.
      await s.release('10.0.0.10', mac, 1300);
      assert.equal((await s.getByIp('10.0.0.10'))?.expiresAt, 1200);
      // The same MAC binds it again; after another release, a second MAC may take it.
      assert.deepEqual(await s.putMany([lease('10.0.0.10', mac, 5000)], 1400), ['ok']);
      await s.release('10.0.0.10', mac, 1500);
      assert.deepEqual(await s.putMany([lease('10.0.0.10', 'aa:00:00:00:00:02', 9000)], 1500), ['ok']);
      assert.equal(await s.getByMac(mac, '10.0.0.0/24'), undefined);
      assert.equal((await s.getByMac('aa:00:00:00:00:02', '10.0.0.0/24'))?.ip, '10.0.0.10');
    },
  );

  withStore('a RELEASE never undoes a DECLINE', async (s) => {
    await s.putMany([{ ...lease('10.0.0.10', 'aa:00:00:00:00:01', 2000), state: 'declined' }], 1000);
    await s.release('10.0.0.10', 'aa:00:00:00:00:01', 1200);
    const l = await s.getByIp('10.0.0.10');
    assert.deepEqual([l?.state, l?.expiresAt], ['declined', 2000]);
  });

  withStore("a DECLINE of another address keeps the MAC's bound lease (only a bound write moves a MAC)", async (s) => {
    const mac = 'aa:00:00:00:00:01';
    await s.putMany([lease('10.0.0.10', mac, 2000)], 1000);
    assert.deepEqual(await s.putMany([{ ...lease('10.0.0.11', mac, 3000), state: 'declined' }], 1100), ['ok']);
    assert.equal((await s.getByMac(mac, '10.0.0.0/24'))?.ip, '10.0.0.10');
    assert.deepEqual(
      (await s.list()).map((l) => [l.ip, l.state]),
      [
        ['10.0.0.10', 'bound'],
        ['10.0.0.11', 'declined'],
      ],
    );
  });

  withStore(
    'a MAC that moves twice in one batch keeps only its last address; a refused write moves nothing',
    async (s) => {
      const mac = 'aa:00:00:00:00:01';
      await s.putMany([lease('10.0.0.10', mac, 2000)], 1000);
      assert.deepEqual(
        await s.putMany(
          [lease('10.0.0.11', mac, 2000), lease('10.0.0.12', mac, 2000), lease('10.0.0.20', 'aa:00:00:00:00:02', 2000)],
          1000,
        ),
        ['ok', 'ok', 'ok'],
      );
      assert.deepEqual(await s.putMany([lease('10.0.0.20', mac, 2000)], 1000), ['conflict']);
      assert.deepEqual(
        (await s.list()).map((l) => [l.ip, l.mac]),
        [
          ['10.0.0.12', mac],
          ['10.0.0.20', 'aa:00:00:00:00:02'],
        ],
      );
      assert.equal((await s.getByMac(mac, '10.0.0.0/24'))?.ip, '10.0.0.12');
    },
  );

  withStore(
    'a MAC bound elsewhere by a later request keeps that binding: a bound lease ending earlier is refused',
    async (s) => {
      const mac = 'aa:00:00:00:00:01';
      // The later REQUEST commits first (its lease ends at 5000); the earlier one, which waited, ends at 4000.
      assert.deepEqual(await s.putMany([lease('10.0.0.11', mac, 5000)], 1000), ['ok']);
      assert.deepEqual(await s.putMany([lease('10.0.0.10', mac, 4000)], 1100), ['conflict']);
      // In one batch, whatever order the store writes it in.
      assert.deepEqual(await s.putMany([lease('10.0.0.12', mac, 7000), lease('10.0.0.13', mac, 6000)], 1200), [
        'ok',
        'conflict',
      ]);
      assert.deepEqual(
        (await s.list()).map((l) => [l.ip, l.mac]),
        [['10.0.0.12', mac]],
      );
      // A declined address is not a binding: it never waits for one.
      assert.deepEqual(await s.putMany([{ ...lease('10.0.0.20', mac, 3000), state: 'declined' }], 1300), ['ok']);
      // The same address renewed with an earlier end is the same binding, not a stale one.
      assert.deepEqual(await s.putMany([lease('10.0.0.12', mac, 6500)], 1400), ['ok']);
    },
  );

  withStore(
    'a MAC whose old address went to another MAC after expiry keeps the new holder when it moves',
    async (s) => {
      await s.putMany([lease('10.0.0.10', 'aa:00:00:00:00:01', 2000)], 1000);
      await s.putMany([lease('10.0.0.10', 'aa:00:00:00:00:02', 9000)], 3000);
      await s.putMany([lease('10.0.0.11', 'aa:00:00:00:00:01', 9000)], 3000);
      assert.deepEqual(
        (await s.list()).map((l) => [l.ip, l.mac]),
        [
          ['10.0.0.10', 'aa:00:00:00:00:02'],
          ['10.0.0.11', 'aa:00:00:00:00:01'],
        ],
      );
    },
  );
}
