import { readFileSync } from 'node:fs';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { createPinnedAgent } from '../trust/tls/pinned-agent.js';
import type { ClientConfig } from './client-config.js';

/** The TLS policy for an https:// server: a pinned certificate fingerprint, a CA file, or the system trust store. */
function dispatcherFor(cfg: ClientConfig): Dispatcher | undefined {
  if (!cfg.server.startsWith('https:')) return undefined;
  if (cfg.caFingerprint) return createPinnedAgent(cfg.caFingerprint);
  if (cfg.caFile) return new Agent({ connect: { ca: readFileSync(cfg.caFile, 'utf8') } });
  return undefined;
}

/** An API error as the CLI sees it: the controller's code and message, or `unreachable`. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly issues: Array<{ path: string; message: string }> = [],
  ) {
    super(message);
  }
}

/** The `error` object of an error reply ({ error: { code, message, issues } }); fields of another shape read as absent. */
function errorOf(json: unknown): { code?: string; message?: string; issues?: ApiError['issues'] } | undefined {
  if (typeof json !== 'object' || json === null || !('error' in json)) return undefined;
  const e = json.error;
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, message, issues } = e as Record<string, unknown>;
  return {
    code: typeof code === 'string' ? code : undefined,
    message: typeof message === 'string' ? message : undefined,
    issues: Array.isArray(issues) ? (issues as ApiError['issues']) : undefined,
  };
}

/** A thin JSON client for the Kiln API. */
export function createApiClient(cfg: ClientConfig) {
  const dispatcher = dispatcherFor(cfg);
  async function call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeoutMs = 30_000,
  ): Promise<T> {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (cfg.token) h['authorization'] = `Bearer ${cfg.token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    let res: Awaited<ReturnType<typeof undiciFetch>>;
    try {
      res = await undiciFetch(`${cfg.server}${path}`, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        dispatcher,
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'tls_pin_mismatch')
        throw new ApiError(
          'tls_pin_mismatch',
          `refusing ${cfg.server}: ${cause.message}; if the controller's certificate really changed, update KILN_CA_FINGERPRINT (\`kiln serve\` logs the new one)`,
          0,
        );
      throw new ApiError(
        'unreachable',
        `cannot reach the Kiln controller at ${cfg.server} (${cause?.code ?? cause?.message ?? (err as Error).message}); is \`kiln serve\` running? set --server or KILN_SERVER`,
        0,
      );
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (res.ok && !(res.headers.get('content-type') ?? '').includes('json')) return text as T;
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const e = errorOf(json);
      throw new ApiError(
        e?.code ?? 'failed',
        e?.message ?? `HTTP ${res.status}: ${text.slice(0, 200)}`,
        res.status,
        e?.issues ?? [],
      );
    }
    return json as T;
  }
  return {
    get: <T>(path: string) => call<T>('GET', path),
    post: <T>(path: string, body?: unknown) => call<T>('POST', path, body ?? {}),
    /** A POST whose answer may take long (a repo sync from a peer): waits up to `timeoutMs`. */
    postLong: <T>(path: string, body: unknown, timeoutMs: number) => call<T>('POST', path, body, {}, timeoutMs),
    patch: <T>(path: string, body: unknown, headers?: Record<string, string>) => call<T>('PATCH', path, body, headers),
    put: <T>(path: string, body: unknown) => call<T>('PUT', path, body),
    getText: (path: string) => call<string>('GET', path),
    /** Opens a long-lived GET (Server-Sent Events): the body as text chunks; no timeout, `signal` ends it. */
    async *stream(path: string, headers: Record<string, string>, signal?: AbortSignal): AsyncGenerator<string> {
      const h: Record<string, string> = { accept: 'text/event-stream', ...headers };
      if (cfg.token) h['authorization'] = `Bearer ${cfg.token}`;
      let res: Awaited<ReturnType<typeof undiciFetch>>;
      try {
        res = await undiciFetch(`${cfg.server}${path}`, { headers: h, signal, dispatcher });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new ApiError(
          'unreachable',
          `cannot reach the Kiln controller at ${cfg.server} (${cause?.code ?? cause?.message ?? (err as Error).message})`,
          0,
        );
      }
      if (!res.ok || !res.body) {
        const text = await res.text();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const e = errorOf(json);
        throw new ApiError(e?.code ?? 'failed', e?.message ?? `HTTP ${res.status}: ${text.slice(0, 200)}`, res.status);
      }
      const decoder = new TextDecoder();
      // undici types the body's chunks as `any`; a fetch body's chunks are bytes.
      const body: AsyncIterable<Uint8Array> = res.body as AsyncIterable<Uint8Array>;
      for await (const chunk of body) yield decoder.decode(chunk, { stream: true });
    },
    del: <T>(path: string) => call<T>('DELETE', path),
  };
}

/** The client's type. */
export type ApiClient = ReturnType<typeof createApiClient>;
