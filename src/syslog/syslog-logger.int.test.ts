// The syslog receiver on loopback, fed by util-linux `logger` (UDP, TCP with
// LF and octet-counted framing, RFC 5424 and 3164), read back through the API.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { test } from 'node:test';
import { createTestController } from '../../test/support/controller.js';
import { createSqlLeaseStore } from '../boot/dhcp/sql-lease-store.js';
import { silentLogger } from '../log/logger.js';
import { defaultSyslogConfig } from './syslog-config.js';
import { startSyslog } from './start-syslog.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('logger lines over UDP and TCP (LF and octet-counted, RFC 5424 and 3164) are attributed by lease and read back through the API; garbage is kept and counted', async () => {
  const c = await createTestController();
  const receiver = await startSyslog({
    config: { ...defaultSyslogConfig, enabled: true, address: '127.0.0.1', port: 0 },
    service: c.syslog,
    metrics: c.metrics,
    log: silentLogger,
  });
  try {
    const auth = { authorization: c.bearer.admin };
    const made = await c.app.inject({
      method: 'POST',
      url: '/api/v1/hosts',
      headers: auth,
      payload: { name: 'web1', nics: [{ mac: '52:54:00:aa:00:01' }] },
    });
    assert.equal(made.statusCode, 201, made.body);
    await createSqlLeaseStore(c.db).putMany(
      [
        {
          ip: '127.0.0.1',
          mac: '52:54:00:aa:00:01',
          subnet: '127.0.0.0/8',
          expiresAt: Date.now() + 3_600_000,
          state: 'bound',
        },
      ],
      Date.now(),
    );
    const port = String(receiver.udp.local.port);
    const logger = (args: string[], line: string) =>
      execFileSync('logger', ['-n', '127.0.0.1', '-P', port, '-t', 'kiln-int', '-p', 'local0.notice', ...args, line]);
    logger(
      ['--udp', '--rfc5424', '--sd-id', 'kiln@32473', '--sd-param', 'session="3f2a9c1b7d4e"'],
      'udp rfc5424 with session',
    );
    logger(['--udp', '--rfc3164'], 'udp rfc3164 kiln.session=0123456789ab');
    logger(['--tcp', '--octet-count', '--rfc5424'], 'tcp octet-counted rfc5424');
    logger(['--tcp', '--rfc5424'], 'tcp lf rfc5424');
    logger(['--tcp', '--rfc3164'], 'tcp lf rfc3164 \u001b[2J');
    // A garbage datagram: kept (raw) and counted.
    const udp = createSocket('udp4');
    await new Promise<void>((resolve, reject) =>
      udp.send(new Uint8Array([0xff, 0x00, 0x3c, 0x39, 0x39, 0x39]), Number(port), '127.0.0.1', (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    udp.close();
    // A bad octet-count frame: the connection is dropped and counted, the receiver goes on.
    await new Promise<void>((resolve) => {
      const s = connect(Number(port), '127.0.0.1', () => s.write('12x <13>bad frame'));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });

    let items: Array<{ text: string; sessionId: string | null; defects: string[]; app: string | null }> = [];
    for (let i = 0; i < 100 && items.length < 6; i++) {
      await sleep(50);
      await c.syslog.flush();
      const res = await c.app.inject({ method: 'GET', url: '/api/v1/hosts/web1/logs', headers: auth });
      assert.equal(res.statusCode, 200, res.body);
      items = (res.json() as { items: typeof items }).items;
    }
    const texts = items.map((m) => m.text);
    for (const t of [
      'udp rfc5424 with session',
      'udp rfc3164 kiln.session=0123456789ab',
      'tcp octet-counted rfc5424',
      'tcp lf rfc5424',
      'tcp lf rfc3164 \u001b[2J',
    ])
      assert.ok(texts.includes(t), `${t} in ${JSON.stringify(texts)}`);
    const garbage = items.find((m) => m.defects.includes('no_pri'));
    assert.ok(garbage, 'the garbage datagram is kept');
    assert.equal(items.find((m) => m.text === 'udp rfc5424 with session')?.sessionId, '3f2a9c1b7d4e');
    assert.equal(items.find((m) => m.text.startsWith('udp rfc3164'))?.sessionId, '0123456789ab');
    assert.equal(items.find((m) => m.text === 'tcp lf rfc5424')?.app, 'kiln-int');
    assert.ok(!texts.some((t) => t.includes('bad frame')), 'nothing after a framing error is read');

    const bySession = await c.app.inject({
      method: 'GET',
      url: '/api/v1/hosts/web1/logs?session=3f2a9c1b7d4e',
      headers: { authorization: c.bearer.viewer },
    });
    assert.deepEqual(
      (bySession.json() as { items: Array<{ text: string }> }).items.map((m) => m.text),
      ['udp rfc5424 with session'],
    );
    const anon = await c.app.inject({ method: 'GET', url: '/api/v1/hosts/web1/logs' });
    assert.equal(anon.statusCode, 401);

    assert.equal(c.syslog.counted('defective'), 1);
    assert.equal(c.syslog.counted('connection_framing_error'), 1);
    const metrics = await c.app.inject({ method: 'GET', url: '/metrics', headers: auth });
    assert.match(metrics.body, /kiln_syslog_total\{event="defective"\} 1/);
    assert.match(metrics.body, /kiln_syslog_total\{event="connection_framing_error"\} 1/);

    const host = await c.app.inject({ method: 'GET', url: '/api/v1/hosts/web1', headers: auth });
    assert.equal((host.json() as { state: string }).state, 'new', 'a syslog line never changes a host');
  } finally {
    await receiver.close();
    await c.close();
  }
});
