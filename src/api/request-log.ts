import type { FastifyInstance } from 'fastify';
import { actorOf } from './role.js';

/**
 * Which answered API requests the access log writes at info: `all`, or `changes` (the default): every request
 * except a successful GET or HEAD, which goes to debug (seen at `log-level: debug`). Error answers (4xx, 5xx) are
 * at info in both.
 */
export type RequestLogMode = 'all' | 'changes';

/** The access log's level for one answered request. */
export function requestLogLevel(method: string, status: number, mode: RequestLogMode): 'info' | 'debug' {
  if (mode === 'all' || status >= 400) return 'info';
  return method === 'GET' || method === 'HEAD' ? 'debug' : 'info';
}

// Parameter names whose values are credentials (the install files' `:token`, the syslog route's `key`, signatures).
const secretName = /token|secret|key|password|passwd|credential|sig/i;

/**
 * A request URL as the access log shows it: a path segment that is the value of a credential-like route parameter
 * (the install files' `:token`) and the value of every credential-like query parameter are `***`. Pure.
 */
export function loggedUrl(url: string, params: Readonly<Record<string, unknown>> = {}): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const secrets = new Set<string>();
  for (const [name, value] of Object.entries(params))
    if (secretName.test(name) && typeof value === 'string' && value !== '') secrets.add(value);
  const shown = secrets.size
    ? path
        .split('/')
        .map((seg) => (secrets.has(seg) || secrets.has(safeDecode(seg)) ? '***' : seg))
        .join('/')
    : path;
  if (q < 0) return shown;
  const pairs = url
    .slice(q + 1)
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq >= 0 && secretName.test(safeDecode(p.slice(0, eq))) ? `${p.slice(0, eq)}=***` : p;
    });
  return `${shown}?${pairs.join('&')}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * One access log line per answered request (Fastify's own two request lines are off): method, URL (credentials
 * in it hidden), client address, status, milliseconds and the principal (`anonymous` without one), at the level `requestLogLevel` gives.
 */
export function installRequestLog(app: FastifyInstance, mode: RequestLogMode, debug: boolean): void {
  app.addHook('onResponse', async (request, reply) => {
    const level = requestLogLevel(request.method, reply.statusCode, mode);
    if (level === 'debug' && !debug) return;
    request.log[level](
      {
        method: request.method,
        url: loggedUrl(request.url, (request.params ?? {}) as Record<string, unknown>),
        ip: request.ip,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        principal: actorOf(request.principal),
      },
      'request',
    );
  });
}
