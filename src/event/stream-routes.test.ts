// The live event stream over a real loopback socket: Node's fetch as the subscriber, events made through the API.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestController } from '../../test/support/controller.js';
import { createSseParser, type SseMessage } from '../cli/sse.js';
import { createApiClient } from '../cli/api-client.js';
import { followEvents, formatEventLine } from '../cli/commands/events.js';

/** Reads SSE messages (and comments, when asked) from a fetch body until `want` of them have arrived. */
async function readMessages(
  body: ReadableStream<Uint8Array>,
  want: number,
  comments?: string[],
): Promise<SseMessage[]> {
  const parser = createSseParser();
  const got: SseMessage[] = [];
  const reader = body.getReader();
  const decoder = new TextDecoder();
  while (got.length < want) {
    const { value, done } = await reader.read();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    if (comments) comments.push(...text.split('\n').filter((l) => l.startsWith(':')));
    got.push(...parser.push(text));
  }
  reader.releaseLock();
  return got;
}

describe('GET /api/v1/events/stream', () => {
  it('delivers events made through the API in order, and resumes after a disconnect without loss or repeat', async (t) => {
    const c = await createTestController({ eventStream: { pollMs: 20 } });
    t.after(() => c.close());
    const base = await c.app.listen({ host: '127.0.0.1', port: 0 });
    const mkHost = async (name: string) => {
      const r = await fetch(`${base}/api/v1/hosts`, {
        method: 'POST',
        headers: { authorization: c.bearer.operator, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      assert.equal(r.status, 201);
    };
    const open = (headers: Record<string, string> = {}) => {
      const ac = new AbortController();
      const res = fetch(`${base}/api/v1/events/stream?kind=host.`, {
        headers: { authorization: c.bearer.viewer, ...headers },
        signal: ac.signal,
      });
      return { ac, res };
    };

    const first = open();
    const res1 = await first.res;
    assert.equal(res1.status, 200);
    assert.match(res1.headers.get('content-type') ?? '', /^text\/event-stream/);
    await mkHost('s1');
    await mkHost('s2');
    await mkHost('s3');
    const got1 = await readMessages(res1.body!, 3);
    assert.deepEqual(
      got1.map((m) => [m.event, (JSON.parse(m.data) as { subject: string }).subject]),
      [
        ['host.created', 's1'],
        ['host.created', 's2'],
        ['host.created', 's3'],
      ],
    );
    const ids = got1.map((m) => Number(m.id));
    assert.ok(ids[0]! < ids[1]! && ids[1]! < ids[2]!, `positions grow: ${ids.join(',')}`);
    first.ac.abort();

    // Made while nobody listens; the resumed stream starts right after the last id seen.
    await mkHost('s4');
    await mkHost('s5');
    const second = open({ 'last-event-id': String(ids[2]) });
    const res2 = await second.res;
    const back = readMessages(res2.body!, 3);
    await mkHost('s6');
    const got2 = await back;
    second.ac.abort();
    assert.deepEqual(
      got2.map((m) => (JSON.parse(m.data) as { subject: string }).subject),
      ['s4', 's5', 's6'],
    );

    // ?after= does the same as the header.
    const third = await fetch(`${base}/api/v1/events/stream?kind=host.&after=${ids[0]}`, {
      headers: { authorization: c.bearer.viewer },
    });
    const ac3 = new AbortController();
    const got3 = await readMessages(third.body!, 5);
    void ac3;
    await third.body!.cancel();
    assert.deepEqual(
      got3.map((m) => (JSON.parse(m.data) as { subject: string }).subject),
      ['s2', 's3', 's4', 's5', 's6'],
    );
  });

  it('is authorised like the list: no token is 401; a client that does not accept a stream gets 400', async (t) => {
    const c = await createTestController();
    t.after(() => c.close());
    const r = await c.app.inject({ method: 'GET', url: '/api/v1/events/stream' });
    assert.equal(r.statusCode, 401);
    const bad = await c.app.inject({
      method: 'GET',
      url: '/api/v1/events/stream',
      headers: { authorization: c.bearer.viewer, 'last-event-id': 'x' },
    });
    assert.equal(bad.statusCode, 400);
    const noAccept = await c.app.inject({
      method: 'GET',
      url: '/api/v1/events/stream',
      headers: { authorization: c.bearer.viewer },
    });
    assert.equal(noAccept.statusCode, 400);
    assert.match(noAccept.body, /Accept: text\/event-stream/);
  });

  it('sends heartbeat comments while idle, and app.close ends open streams', async (t) => {
    const c = await createTestController({ eventStream: { pollMs: 20, heartbeatMs: 30 } });
    let closed = false;
    t.after(async () => {
      if (!closed) await c.close();
    });
    const base = await c.app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${base}/api/v1/events/stream`, { headers: { authorization: c.bearer.viewer } });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes(': heartbeat')) text += decoder.decode((await reader.read()).value);
    await c.close();
    closed = true;
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
  });

  it('kiln events --follow prints sanitised lines and reconnects with Last-Event-ID', async (t) => {
    const c = await createTestController({ eventStream: { pollMs: 20, maxQueued: 1 } });
    t.after(() => c.close());
    const base = await c.app.listen({ host: '127.0.0.1', port: 0 });
    const api = createApiClient({
      server: base,
      token: c.bearer.operator.slice('Bearer '.length),
      caFingerprint: null,
      caFile: null,
    });
    const lines: string[] = [];
    const ac = new AbortController();
    const waitFor = async (n: number) => {
      while (lines.length < n) await new Promise((r) => setTimeout(r, 10));
    };
    // The first connection drops after its first event (as a restart or a proxy would).
    const sent: Array<Record<string, string>> = [];
    const flaky: typeof api = {
      ...api,
      async *stream(path, headers, signal) {
        sent.push(headers);
        for await (const chunk of api.stream(path, headers, signal)) {
          yield chunk;
          if (sent.length === 1 && chunk.includes('data:')) return;
        }
      },
    };
    const following = followEvents(
      flaky,
      new URLSearchParams({ kind: 'host.' }),
      (e) =>
        lines.push(formatEventLine({ ...e, reason: e.subject === 'f2' ? 'bad\u001b]0;title\u0007 name' : e.reason })),
      { out: () => {}, err: () => {} },
      { retryMs: 10, signal: ac.signal },
    );
    await new Promise((r) => setTimeout(r, 100));
    await api.post('/api/v1/hosts', { name: 'f1' });
    await waitFor(1);
    await api.post('/api/v1/hosts', { name: 'f2' });
    await api.post('/api/v1/hosts', { name: 'f3' });
    await waitFor(3);
    ac.abort();
    await following;
    assert.deepEqual(
      lines.map((l) => l.split(' ')[3]),
      ['f1', 'f2', 'f3'],
    );
    assert.ok(
      lines.every((l) => !/[\u0000-\u001f]/.test(l)),
      JSON.stringify(lines),
    );
    assert.match(lines[1]!, /\(bad name\)$/);
    assert.equal(sent[0]!['last-event-id'], undefined);
    assert.equal(sent[1]!['last-event-id'], lines[0]!.split(' ')[0]);
  });
});
