// The hook scenario on PostgreSQL (the local server; fails, does not skip, when it is down): every host event
// arrives signed and once by delivery id, also across a SIGKILL of `kiln serve` mid-delivery.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertExactlyOnce, runHookScenario } from '../../test/support/hook-scenario.js';
import { createTempPostgres, type TempPostgres } from '../../test/support/postgres.js';

describe('outbound hooks on PostgreSQL (real kiln serve, real receiver)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-hooks-pg-'));
  let pg: TempPostgres;
  before(async () => {
    pg = await createTempPostgres('hooks');
  });
  after(async () => {
    await pg.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers each host event signed and exactly once by delivery id, across a SIGKILL mid-delivery', async () => {
    const config = join(dir, 'kiln.yaml');
    writeFileSync(
      config,
      'hooks: { pollMs: 100, timeoutSeconds: 2, retry: { attempts: 5, baseSeconds: 1, maxSeconds: 2 } }\n',
    );
    const data = join(dir, 'data');
    const r = await runHookScenario({
      dataDir: data,
      serveArgs: ['--data-dir', data, '--config', config, '--database-url', pg.url],
      log: (s) => process.stderr.write(`${s}\n`),
    });
    assertExactlyOnce(r);
  });
});
