// Test support: an HTTPS Redfish service on 127.0.0.1 that serves a DMTF
// mockup tree (each folder's index.json is the GET body at that path) from an
// in-memory copy, applies PATCH (Boot override, VirtualMedia) and
// ComputerSystem.Reset to it, hands out ETags, and authenticates with basic
// auth or SessionService sessions. A wrong password gets 401.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { certificateFingerprint } from '../redfish-tls.js';

type Doc = Record<string, unknown>;

/** Where the DMTF public rack-mount mockup lives: `<repo>/../shared/redfish/public-rackmount1`. */
export function mockupDir(): string | undefined {
  const repo = new URL('../../../../', import.meta.url).pathname;
  const dir = join(repo, '..', 'shared', 'redfish', 'public-rackmount1');
  return existsSync(join(dir, 'index.json')) ? dir : undefined;
}

/** A running mock BMC. `docs` is the live in-memory tree, keyed by path without a trailing slash. */
export interface RedfishMock {
  url: string;
  port: number;
  /** PEM of the self-signed certificate (use as `ca`). */
  certPem: string;
  /** SHA-256 fingerprint of the certificate (use as `fingerprint`). */
  fingerprint: string;
  docs: Map<string, Doc>;
  /** Every request as `METHOD path auth [if-match]` (auth: none | basic | session | bad). */
  requests: string[];
  /** Reset types received, in order. */
  resets: string[];
  stop(): Promise<void>;
}

/** Options; `sessions: false` makes SessionService answer 405 (basic auth only). */
export interface RedfishMockOptions {
  dir: string;
  username: string;
  password: string;
  sessions?: boolean;
  /** Reset types refused with 400 whatever the allowable list says (BMCs whose list is wrong). */
  refuseResets?: string[];
}

function loadTree(dir: string): Map<string, Doc> {
  const docs = new Map<string, Doc>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name === 'index.json') {
        const rel = relative(dir, d).split('\\').join('/');
        docs.set(rel ? `/redfish/v1/${rel}` : '/redfish/v1', JSON.parse(readFileSync(p, 'utf8')) as Doc);
      }
    }
  };
  walk(dir);
  return docs;
}

function selfSigned(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-rfcert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore', timeout: 10_000 },
    );
    return { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const etag = (d: Doc) => `W/"${createHash('sha256').update(JSON.stringify(d)).digest('hex').slice(0, 16)}"`;
const norm = (p: string) => p.split('?')[0].replace(/\/+$/, '') || '/';

function error(res: ServerResponse, status: number, id: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      error: {
        code: `Base.1.8.${id}`,
        message,
        '@Message.ExtendedInfo': [{ MessageId: `Base.1.8.${id}`, Message: message }],
      },
    }),
  );
}

// DSP0268 ResetType → resulting PowerState (restarts end powered on).
const resetEffect: Record<string, 'On' | 'Off' | 'toggle'> = {
  On: 'On',
  ForceOn: 'On',
  ForceOff: 'Off',
  GracefulShutdown: 'Off',
  GracefulRestart: 'On',
  ForceRestart: 'On',
  PowerCycle: 'On',
  Nmi: 'On',
  PushPowerButton: 'toggle',
};

/** Starts the mock on 127.0.0.1 with a fresh self-signed certificate. */
export async function startRedfishMock(o: RedfishMockOptions): Promise<RedfishMock> {
  const docs = loadTree(o.dir);
  const { key, cert } = selfSigned();
  const sessions = new Map<string, string>(); // token → session path
  const requests: string[] = [];
  const resets: string[] = [];

  function authOf(req: IncomingMessage): 'basic' | 'session' | 'bad' | 'none' {
    const tok = req.headers['x-auth-token'];
    if (typeof tok === 'string') return sessions.has(tok) ? 'session' : 'bad';
    const a = req.headers.authorization;
    if (!a) return 'none';
    const [u, ...p] = Buffer.from(a.replace(/^Basic /, ''), 'base64')
      .toString()
      .split(':');
    return u === o.username && p.join(':') === o.password ? 'basic' : 'bad';
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = norm(req.url ?? '/');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Doc = {};
    try {
      if (chunks.length) body = JSON.parse(Buffer.concat(chunks).toString()) as Doc;
    } catch {
      error(res, 400, 'MalformedJSON', 'The request body was malformed JSON.');
      return;
    }
    const auth = authOf(req);
    requests.push(`${req.method} ${path} ${auth}${req.headers['if-match'] ? ' if-match' : ''}`);
    const sessionColl = '/redfish/v1/SessionService/Sessions';
    // DSP0266 §13.3.1: the service root and session login need no authentication.
    if (req.method === 'POST' && path === sessionColl) {
      if (o.sessions === false) {
        error(res, 405, 'OperationNotAllowed', 'Sessions are disabled on this service.');
        return;
      }
      if (body.UserName !== o.username || body.Password !== o.password) {
        error(res, 401, 'NoValidSession', 'Invalid user name or password.');
        return;
      }
      const token = randomBytes(16).toString('hex');
      const id = token.slice(0, 8);
      sessions.set(token, `${sessionColl}/${id}`);
      res.writeHead(201, {
        'content-type': 'application/json',
        'x-auth-token': token,
        location: `${sessionColl}/${id}`,
      });
      res.end(JSON.stringify({ '@odata.id': `${sessionColl}/${id}`, Id: id, UserName: o.username }));
      return;
    }
    if (path !== '/redfish/v1' && auth !== 'basic' && auth !== 'session') {
      error(res, 401, 'NoValidSession', 'There is no valid session established with the implementation.');
      return;
    }
    if (req.method === 'DELETE' && path.startsWith(`${sessionColl}/`)) {
      for (const [t, p] of sessions) if (p === path) sessions.delete(t);
      res.writeHead(204);
      res.end();
      return;
    }
    const doc = docs.get(path);
    if (req.method === 'POST') {
      const sysPath = path.replace(/\/Actions\/ComputerSystem\.Reset$/, '');
      const sys = docs.get(sysPath);
      const action = (sys?.Actions as Doc | undefined)?.['#ComputerSystem.Reset'] as Doc | undefined;
      if (!sys || action?.target !== path) {
        error(res, 404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`);
        return;
      }
      const allowed = (action['ResetType@Redfish.AllowableValues'] as string[] | undefined) ?? Object.keys(resetEffect);
      const type = body.ResetType;
      if (typeof type !== 'string' || !allowed.includes(type) || o.refuseResets?.includes(type)) {
        error(
          res,
          400,
          'ActionParameterValueNotInList',
          `The value ${JSON.stringify(type)} for the parameter ResetType is not in the list of acceptable values.`,
        );
        return;
      }
      resets.push(type);
      const eff = resetEffect[type];
      sys.PowerState = eff === 'toggle' ? (sys.PowerState === 'On' ? 'Off' : 'On') : eff;
      res.writeHead(204);
      res.end();
      return;
    }
    if (!doc) {
      error(res, 404, 'ResourceMissingAtURI', `The resource at the URI ${path} was not found.`);
      return;
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json', etag: etag(doc) });
      res.end(JSON.stringify(doc));
      return;
    }
    if (req.method === 'PATCH') {
      const ifMatch = req.headers['if-match'];
      if (ifMatch && ifMatch !== etag(doc)) {
        error(
          res,
          412,
          'PreconditionFailed',
          'The ETag supplied did not match the ETag required to change this resource.',
        );
        return;
      }
      const err = applyPatch(doc, body);
      if (err) {
        error(res, 400, 'PropertyValueNotInList', err);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', etag: etag(doc) });
      res.end(JSON.stringify(doc));
      return;
    }
    error(res, 405, 'OperationNotAllowed', `${req.method} is not allowed on ${path}.`);
  }

  const server: Server = createServer({ key, cert }, (req, res) => {
    handle(req, res).catch((e: Error) => error(res, 500, 'InternalError', e.message));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    certPem: cert,
    fingerprint: certificateFingerprint(cert),
    docs,
    requests,
    resets,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Applies a PATCH to a ComputerSystem `Boot` or a VirtualMedia slot; returns an error text for a disallowed value. */
function applyPatch(doc: Doc, body: Doc): string | undefined {
  if (body.Boot && typeof body.Boot === 'object') {
    const boot = (doc.Boot ?? {}) as Doc;
    const patch = body.Boot as Doc;
    const allowed = boot['BootSourceOverrideTarget@Redfish.AllowableValues'];
    if (
      Array.isArray(allowed) &&
      patch.BootSourceOverrideTarget !== undefined &&
      !allowed.includes(patch.BootSourceOverrideTarget)
    ) {
      return `The value ${JSON.stringify(patch.BootSourceOverrideTarget)} for the property BootSourceOverrideTarget is not in the list of acceptable values.`;
    }
    for (const k of ['BootSourceOverrideTarget', 'BootSourceOverrideEnabled', 'BootSourceOverrideMode'])
      if (k in patch) boot[k] = patch[k];
    doc.Boot = boot;
  }
  if ('Image' in body) doc.Image = body.Image;
  if ('Inserted' in body) doc.Inserted = body.Inserted;
  return undefined;
}
