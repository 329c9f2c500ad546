// Test support: an HTTP proxy on loopback in front of a controller that loses chosen answers. The request is
// forwarded and the controller's whole answer read (so it has committed), then the client's connection is reset
// (TCP RST) instead of answered: what a node sees when an answer is lost under load (docs/discovery.md, "A lost
// answer").
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running lossy proxy; everything is kept in memory until `close`. */
export interface LossyProxy {
  /** The loopback port clients call. */
  port: number;
  /** The request bodies sent to `path` (e.g. `/api/v1/node/enrol`), in arrival order. */
  sent(path: string): string[];
  /** The answers to `path` read from the controller and never delivered, in order. */
  lost(path: string): string[];
  /** Loses the next `n` answers to `path` (default 1); counts add up. */
  loseNext(path: string, n?: number): void;
  close(): Promise<void>;
}

const readAll = (m: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    m.on('data', (d: Buffer) => parts.push(d))
      .on('end', () => resolve(Buffer.concat(parts)))
      .on('error', reject);
  });

/** Starts a proxy on 127.0.0.1 forwarding every request to the controller on 127.0.0.1:`target`. */
export async function startLossyProxy(target: number): Promise<LossyProxy> {
  const sent = new Map<string, string[]>();
  const lost = new Map<string, string[]>();
  const toLose = new Map<string, number>();
  const list = (m: Map<string, string[]>, path: string) => m.get(path) ?? m.set(path, []).get(path)!;
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    void readAll(req).then((payload) => {
      list(sent, path).push(payload.toString());
      const up = request(
        { host: '127.0.0.1', port: target, path, method: req.method, headers: req.headers },
        (answer) =>
          void readAll(answer).then((text) => {
            const n = toLose.get(path) ?? 0;
            if (n > 0) {
              toLose.set(path, n - 1);
              list(lost, path).push(text.toString());
              req.socket.resetAndDestroy();
              return;
            }
            res.writeHead(answer.statusCode ?? 502, answer.headers).end(text);
          }),
      );
      up.on('error', () => res.writeHead(502).end());
      up.end(payload);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    sent: (path) => [...(sent.get(path) ?? [])],
    lost: (path) => [...(lost.get(path) ?? [])],
    loseNext: (path, n = 1) => void toLose.set(path, (toLose.get(path) ?? 0) + n),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
