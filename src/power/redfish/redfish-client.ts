import { request, type Agent } from 'undici';
import { KilnError } from '../../error/kiln-error.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import { readCapped } from '../read-capped.js';
import { peerToken, redactSecrets } from '../secret.js';

/** Largest Redfish reply Kiln reads (a big Systems collection is well under it); the rest is dropped. */
const maxReplyBytes = 8 * 1024 * 1024;

/** One JSON reply from a BMC; `etag` comes from the ETag header or `@odata.etag`. */
export interface RedfishReply {
  status: number;
  body: Record<string, unknown>;
  etag: string | undefined;
  location: string | undefined;
}

/** A Redfish HTTP client for one BMC: session auth with basic-auth fallback. */
export interface RedfishClient {
  get(path: string, signal?: AbortSignal): Promise<RedfishReply>;
  /** Sends a JSON body; `ifMatch` adds If-Match. */
  send(
    method: 'POST' | 'PATCH' | 'DELETE',
    path: string,
    body: unknown,
    o?: { ifMatch?: string; signal?: AbortSignal },
  ): Promise<RedfishReply>;
  /** Deletes the session, if one was opened. Never throws. */
  logout(): Promise<void>;
  /** How requests authenticate now: before the first call it is `none`. */
  authMode(): 'none' | 'session' | 'basic';
}

/** Settings for `createRedfishClient`; `baseUrl` is `https://host[:port]`. */
export interface RedfishClientOptions {
  baseUrl: string;
  username: string;
  password: string;
  dispatcher: Agent;
  timeoutMs: number;
  /** `session` (default: try SessionService, fall back to basic) or `basic` (never open a session). */
  auth?: 'session' | 'basic';
  logger?: Logger;
}

/**
 * The BMC's own words from a Redfish error body (DSP0266 §9.6 "Error
 * responses": `error.message` plus `@Message.ExtendedInfo[].Message`).
 */
export function redfishErrorText(body: unknown): string | undefined {
  const e = (body as { error?: Record<string, unknown> } | undefined)?.error;
  if (!e || typeof e !== 'object') return undefined;
  const ext = Array.isArray(e['@Message.ExtendedInfo'])
    ? (e['@Message.ExtendedInfo'] as Array<{ Message?: unknown }>)
        .map((i) => i?.Message)
        .filter((m): m is string => typeof m === 'string')
    : [];
  const parts = [typeof e.message === 'string' ? e.message : undefined, ...ext].filter(Boolean);
  return parts.length ? parts.join(' ') : undefined;
}

/** Creates a client; nothing is sent until the first request. */
export function createRedfishClient(o: RedfishClientOptions): RedfishClient {
  const logger = o.logger ?? silentLogger;
  const basic = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString('base64')}`;
  let mode: 'none' | 'session' | 'basic' = o.auth === 'basic' ? 'basic' : 'none';
  let token: string | undefined;
  let sessionUrl: string | undefined;
  const clean = (s: string) => redactSecrets(s, [o.password, token]);
  const origin = new URL(o.baseUrl).origin;

  async function raw(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<RedfishReply & { authToken?: string }> {
    // Paths come from the BMC's own links (@odata.id, Location): one naming another host would get our credentials.
    let url: URL;
    try {
      url = new URL(path, o.baseUrl);
    } catch {
      throw new KilnError('bmc_error', `BMC ${o.baseUrl} named a link that is not a URL path`);
    }
    if (url.origin !== origin) {
      logger.debug({ bmc: o.baseUrl, link: path.slice(0, 300) }, 'Redfish link to another origin refused');
      throw new KilnError(
        'bmc_error',
        `BMC ${o.baseUrl} named a link on another host or port; Kiln only talks to ${origin}`,
      );
    }
    const timeout = AbortSignal.timeout(o.timeoutMs);
    const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res;
    try {
      res = await request(url, {
        method: method as 'GET',
        dispatcher: o.dispatcher,
        signal: sig,
        headers: {
          accept: 'application/json',
          'odata-version': '4.0',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (err instanceof KilnError) throw err;
      const e = err as Error & { code?: string };
      const timedOut = timeout.aborted || signal?.aborted || /Timeout/i.test(`${e.name} ${e.code}`);
      if (timedOut)
        throw new KilnError(
          'bmc_timeout',
          `BMC ${o.baseUrl} did not answer ${method} ${peerToken(path)} within ${o.timeoutMs} ms`,
        );
      throw new KilnError(
        'bmc_error',
        `BMC ${o.baseUrl}: ${method} ${peerToken(path)} failed: ${clean(e.code ?? '')} ${clean(e.message)}`.replace(
          /\s+/g,
          ' ',
        ),
      );
    }
    const { text } = await readCapped(res.body, maxReplyBytes).catch(() => ({ text: '' }));
    let json: Record<string, unknown> = {};
    if (text) {
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // The BMC's own text stays in the debug log: errors become events, which viewers read.
        logger.debug(
          {
            bmc: o.baseUrl,
            method,
            path: path.slice(0, 300),
            status: res.statusCode,
            body: clean(text.slice(0, 2000)),
          },
          'Redfish reply is not JSON',
        );
        if (res.statusCode < 300)
          throw new KilnError(
            'bmc_error',
            `BMC ${o.baseUrl}: ${method} ${peerToken(path)} returned a reply that is not JSON`,
          );
      }
    }
    if (res.statusCode >= 400 && redfishErrorText(json)) {
      logger.debug(
        {
          bmc: o.baseUrl,
          method,
          path: path.slice(0, 300),
          status: res.statusCode,
          message: clean(redfishErrorText(json)!.slice(0, 2000)),
        },
        'Redfish error reply',
      );
    }
    const h = (k: string) => {
      const v = res.headers[k];
      return Array.isArray(v) ? v[0] : v;
    };
    const etag = h('etag') ?? (typeof json['@odata.etag'] === 'string' ? json['@odata.etag'] : undefined);
    return { status: res.statusCode, body: json, etag, location: h('location'), authToken: h('x-auth-token') };
  }

  async function login(signal?: AbortSignal): Promise<void> {
    const root = await raw('GET', '/redfish/v1/', undefined, {}, signal);
    const sessions =
      (root.body.Links as Record<string, { '@odata.id'?: string }> | undefined)?.Sessions?.['@odata.id'] ??
      '/redfish/v1/SessionService/Sessions';
    const r = await raw('POST', sessions, { UserName: o.username, Password: o.password }, {}, signal);
    const tok = r.authToken;
    if (r.status >= 200 && r.status < 300 && tok) {
      mode = 'session';
      token = tok;
      sessionUrl = r.location;
      logger.debug({ bmc: o.baseUrl }, 'Redfish session opened');
      return;
    }
    if (r.status === 401 || r.status === 403) throw authError(r);
    // No usable SessionService (404/405/501 or no token): DSP0266 §13.3 lets a
    // service offer basic auth only; use it.
    logger.debug({ bmc: o.baseUrl, status: r.status }, 'Redfish sessions unavailable; using basic auth');
    mode = 'basic';
  }

  const authError = (r: RedfishReply) =>
    new KilnError('bmc_error', `BMC ${o.baseUrl} refused the credentials (HTTP ${r.status})`, {
      details: { status: r.status, reason: 'auth' },
    });

  async function call(
    method: string,
    path: string,
    body: unknown,
    extra: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<RedfishReply> {
    if (mode === 'none') await login(signal);
    const auth = (): Record<string, string> =>
      mode === 'session' ? { 'x-auth-token': token! } : { authorization: basic };
    let r = await raw(method, path, body, { ...extra, ...auth() }, signal);
    if (r.status === 401 && mode === 'session') {
      // session expired: log in again once
      mode = 'none';
      token = undefined;
      await login(signal);
      r = await raw(method, path, body, { ...extra, ...auth() }, signal);
    }
    if (r.status === 401 || r.status === 403) throw authError(r);
    return r;
  }

  return {
    get: (path, signal) => call('GET', path, undefined, {}, signal),
    send: (method, path, body, so = {}) =>
      call(method, path, body, so.ifMatch ? { 'if-match': so.ifMatch } : {}, so.signal),
    async logout() {
      if (mode !== 'session' || !sessionUrl) return;
      try {
        await raw('DELETE', sessionUrl, undefined, { 'x-auth-token': token! });
      } catch {
        /* best effort: the BMC expires it */
      }
      mode = 'none';
      token = undefined;
      sessionUrl = undefined;
    },
    authMode: () => mode,
  };
}
