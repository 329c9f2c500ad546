import type { ClientConfig } from './client-config.js';

/** An API error as the CLI sees it: the controller's code and message, or `unreachable`. */
export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly status: number, readonly issues: Array<{ path: string; message: string }> = []) {
    super(message);
  }
}

/** A thin JSON client for the Kiln API. */
export function createApiClient(cfg: ClientConfig, fetchImpl: typeof fetch = fetch) {
  async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (cfg.token) h['authorization'] = `Bearer ${cfg.token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetchImpl(`${cfg.server}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError('unreachable', `cannot reach the Kiln controller at ${cfg.server} (${cause?.code ?? cause?.message ?? (err as Error).message}); is \`kiln serve\` running? set --server or KILN_SERVER`, 0);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: any;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    if (!res.ok) {
      const e = json?.error;
      throw new ApiError(e?.code ?? 'failed', e?.message ?? `HTTP ${res.status}: ${text.slice(0, 200)}`, res.status, e?.issues ?? []);
    }
    return json as T;
  }
  return {
    get: <T>(path: string) => call<T>('GET', path),
    post: <T>(path: string, body?: unknown) => call<T>('POST', path, body ?? {}),
    patch: <T>(path: string, body: unknown, headers?: Record<string, string>) => call<T>('PATCH', path, body, headers),
    del: <T>(path: string) => call<T>('DELETE', path),
  };
}

/** The client's type. */
export type ApiClient = ReturnType<typeof createApiClient>;
