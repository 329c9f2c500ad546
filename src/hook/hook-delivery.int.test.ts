// Outbound hooks against a real `kiln serve` on SQLite and a real HTTP receiver on loopback: every host state
// change arrives signed and once by delivery id, also across a SIGKILL of the controller mid-delivery; and an
// executable hook from the config file gets each event on stdin, and is killed past its timeout.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertExactlyOnce, runHookScenario, until } from '../../test/support/hook-scenario.js';
import { runKiln } from '../../test/support/serve-process.js';

describe('outbound hooks on SQLite (real kiln serve, real receiver)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-hooks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('delivers each host event signed and exactly once by delivery id, across a SIGKILL mid-delivery; exec hooks get stdin and are killed past their timeout', async () => {
    const out = join(dir, 'exec-out');
    const pids = join(dir, 'slow-pids');
    const writer = join(dir, 'write-stdin.sh');
    const slow = join(dir, 'slow.sh');
    writeFileSync(writer, '#!/bin/sh\nmkdir -p "$1" && cat > "$1/$KILN_DELIVERY_ID.json"\n');
    writeFileSync(slow, '#!/bin/sh\necho $$ >> "$1"\nexec sleep 60\n');
    chmodSync(writer, 0o755);
    chmodSync(slow, 0o755);
    const config = join(dir, 'kiln.yaml');
    writeFileSync(
      config,
      [
        'hooks:',
        '  pollMs: 100',
        '  timeoutSeconds: 2',
        '  retry: { attempts: 3, baseSeconds: 1, maxSeconds: 2 }',
        '  exec:',
        `    - { name: writer, command: [${writer}, ${out}], kinds: [host.state], timeoutSeconds: 5 }`,
        `    - { name: slow, command: [/bin/sh, ${slow}, ${pids}], kinds: [host.created], timeoutSeconds: 1 }`,
        '',
      ].join('\n'),
    );
    const data = join(dir, 'data');
    const r = await runHookScenario({
      dataDir: data,
      serveArgs: ['--data-dir', data, '--config', config],
      log: (s) => process.stderr.write(`${s}\n`),
      beforeKill: async (api, cli) => {
        await until('the slow hook to be dead-lettered', async () => {
          const d = await api<{ items: Array<{ status: string; attempts: number; lastError: string | null }> }>(
            'GET',
            '/api/v1/hooks/exec:slow/deliveries',
          );
          if (d.items[0]?.status !== 'dead') return false;
          assert.deepEqual([d.items[0].attempts, d.items[0].lastError], [3, 'killed after 1000 ms']);
          return true;
        });
        // The CLI: list shows both kinds of hook; deliveries shows the dead one with Kiln's own sentence.
        const list = await runKiln(['hook', 'list'], cli);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, /rx\s+http\s+http:\/\/127\.0\.0\.1:\d+\/hook\s+host\.\s+yes/);
        assert.match(list.stdout, /exec:slow\s+exec\s+\/bin\/sh /);
        const dead = await runKiln(['hook', 'deliveries', 'exec:slow', '--status', 'dead', '--json'], cli);
        assert.equal(dead.code, 0, dead.stderr);
        assert.equal((JSON.parse(dead.stdout) as Array<{ lastError: string }>)[0].lastError, 'killed after 1000 ms');
        const show = await runKiln(['hook', 'show', 'rx', '--json'], cli);
        assert.equal((JSON.parse(show.stdout) as { kinds: string[] }).kinds[0], 'host.');
      },
    });
    assertExactlyOnce(r);

    // The writer got every host.state event, once per delivery id, as the same JSON body an HTTP hook gets.
    const files = readdirSync(out);
    const bodies = files.map(
      (f) =>
        JSON.parse(readFileSync(join(out, f), 'utf8')) as { deliveryId: string; hook: string; event: { kind: string } },
    );
    assert.ok(bodies.every((b, i) => `${b.deliveryId}.json` === files[i] && b.hook === 'exec:writer'));
    assert.equal(bodies.length, r.want.filter((w) => w.kind === 'host.state').length);
    // The slow program was started, killed at its timeout (its pid is gone), and its delivery retried then dead.
    const started = readFileSync(pids, 'utf8').trim().split('\n');
    assert.ok(started.length >= 1);
    for (const pid of started)
      assert.ok(
        !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(' Z '),
        `pid ${pid} was killed`,
      );
  });
});
