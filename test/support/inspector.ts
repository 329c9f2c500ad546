// Test support: blocking a child Node process's main event loop from outside,
// through its inspector (the child started with NODE_OPTIONS=--inspect=127.0.0.1:0,
// `inspectEnv`), without any test hook in the program itself. The busy loop is
// evaluated on the child's main thread (V8 interrupts whatever runs there), so
// its worker threads keep running, as under a real storm's load.
import { WebSocket } from 'undici';

/** The environment that makes a child Node process open its inspector on a free loopback port. */
export const inspectEnv = { NODE_OPTIONS: '--inspect=127.0.0.1:0' };

/** The inspector's WebSocket URL from the child's output ("Debugger listening on ws://…"). */
export function inspectorUrl(output: string): string {
  const m = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+)/.exec(output);
  if (!m) throw new Error(`no inspector URL in the output (started with ${inspectEnv.NODE_OPTIONS}?)`);
  return m[1]!;
}

/**
 * Runs a busy loop of `ms` (bounded) on the child's main thread; resolves when it ended, with the child's own clock
 * at its start and end (epoch ms). Rejects after `ms` + 30 s without an answer.
 */
export function blockMainLoop(url: string, ms: number): Promise<{ from: number; to: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`the inspector did not answer within ${ms + 30_000} ms`));
    }, ms + 30_000);
    const done = (err: Error | null, v?: { from: number; to: number }) => {
      clearTimeout(timer);
      ws.close();
      if (err) reject(err);
      else resolve(v!);
    };
    ws.addEventListener('error', () => done(new Error(`inspector connection to ${url} failed`)));
    ws.addEventListener('open', () =>
      ws.send(
        JSON.stringify({
          id: 1,
          method: 'Runtime.evaluate',
          params: {
            expression: `(() => { const from = Date.now(); while (Date.now() - from < ${Math.floor(ms)}) {} return { from, to: Date.now() }; })()`,
            returnByValue: true,
          },
        }),
      ),
    );
    ws.addEventListener('message', (e) => {
      const reply = JSON.parse(String(e.data)) as {
        id?: number;
        result?: { result?: { value?: { from: number; to: number } } };
        error?: { message: string };
      };
      if (reply.id !== 1) return;
      if (reply.error || !reply.result?.result?.value)
        done(new Error(`Runtime.evaluate failed: ${JSON.stringify(reply)}`));
      else done(null, reply.result.result.value);
    });
  });
}
