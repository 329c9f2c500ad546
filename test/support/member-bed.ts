// Test support: members of one store for real — `kiln serve` processes on one
// fresh PostgreSQL database (a copy of the migrated template,
// test/support/postgres.ts), on loopback, each with its own data dir (its own
// SSH and TLS CAs) and the store's data key, sharing one config file. The
// first member starts alone (it takes every singleton role and writes the
// first admin token); the others follow, each once the one before answers.
// A member gets the data key as the first member's copy, or with `join` by
// `kiln controller join` against the first member (docs/cluster.md,
// "Joining"). One bed per test file: its subtests share the members, and each
// subtest reads what it needs (the role holders, its own hosts) from the bed
// rather than from what an earlier subtest did. `close()` kills the members
// (by PID), drops the database and removes the scratch directory.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTempPostgres, type TempPostgres } from './postgres.js';
import { killChild } from './process.js';
import { runKiln, startServe, type ServeProcess } from './serve-process.js';

/** One member: its name in the bed, data dir and process. */
export interface BedMember extends ServeProcess {
  name: string;
  dir: string;
}

/** A member as `GET /api/v1/controllers` shows it. */
export interface MemberListing {
  id: string;
  name: string;
  url: string;
  health: string;
  silentSeconds: number;
  roles: Array<{ role: string; term: number }>;
}

export interface MemberBedOptions {
  /** Names the database and the scratch directory. */
  tag: string;
  /** The config file every member reads (YAML lines); default: the cluster timings below alone. */
  config?: string[];
  /** `kiln serve` flags for every member. */
  args?: string[];
  /**
   * The members to start, in order (default `a`, `b`), each with flags and environment of its own; `ready`: a log
   * line to wait for (bounded, 20 s) before the next member starts.
   */
  members?: Array<{ name: string; args?: string[]; env?: Record<string, string>; ready?: RegExp }>;
  /** Members after the first get the data key by `kiln controller join` (default: a copy of the first one's). */
  join?: boolean;
}

export interface MemberBed {
  /** The scratch directory (removed at close): members' data dirs are `<work>/<name>`. */
  work: string;
  databaseUrl: string;
  /** The shared config file. */
  config: string;
  /** The first admin token (the first member's `admin-token`). */
  token: string;
  /** Every member started so far, by name. */
  member(name: string): BedMember;
  /** Starts another member on the store (after the others), with a copy of the data key; `dir` already prepared (a joined data dir) is used as it is. */
  start(name: string, o?: { args?: string[]; env?: Record<string, string>; prepared?: boolean }): Promise<BedMember>;
  /** `kill -9` of a member; resolves once it exited, with the epoch ms just before the signal. */
  kill(m: BedMember): Promise<number>;
  /** A JSON API call through `m` with the admin token; throws on a non-2xx answer. */
  api<T>(m: BedMember, method: string, path: string, body?: unknown): Promise<T>;
  /** `GET /api/v1/controllers` through `m`. */
  controllers(m: BedMember): Promise<MemberListing[]>;
  /** The `kiln` CLI against `m` with the admin token. */
  kiln(m: BedMember, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The tail of every member's log, for a failing test's diagnostics. */
  logs(chars?: number): string;
  close(): Promise<void>;
}

/** A dead member leaves the others' lists after 4 s; roles move within about a second. */
export const bedClusterConfig = 'cluster: { heartbeatSeconds: 1, electionMs: 500, staleSeconds: 4 }';

/** Starts the bed; on a failure everything started is stopped before it throws. */
export async function startMemberBed(o: MemberBedOptions): Promise<MemberBed> {
  const work = mkdtempSync(join(tmpdir(), `kiln-${o.tag}-`));
  const members = new Map<string, BedMember>();
  let database: TempPostgres | undefined;
  const close = async (): Promise<void> => {
    for (const m of members.values()) killChild(m.child);
    await Promise.all([...members.values()].map((m) => m.exited));
    await database?.drop();
    rmSync(work, { recursive: true, force: true });
  };
  try {
    database = await createTempPostgres(o.tag, { migrated: true });
    const databaseUrl = database.url;
    const config = join(work, 'kiln.yaml');
    writeFileSync(config, [...(o.config ?? [bedClusterConfig]), ''].join('\n'));
    const specs = o.members ?? [{ name: 'a' }, { name: 'b' }];
    let first: BedMember | undefined;
    let token = '';
    const start: MemberBed['start'] = async (name, s = {}) => {
      if (members.has(name)) throw new Error(`member ${name} exists in the bed`);
      const dir = join(work, name);
      if (!s.prepared) {
        mkdirSync(dir, { mode: 0o700 });
        // Members hold the store's data key (docs/cluster.md): the first member's, or joined (o.join, `prepared`).
        if (first) copyFileSync(join(first.dir, 'data.key'), join(dir, 'data.key'));
      }
      const serve = await startServe(
        ['--data-dir', dir, '--config', config, '--database-url', databaseUrl, ...(o.args ?? []), ...(s.args ?? [])],
        { KILN_LOG_LEVEL: 'info', ...s.env },
      );
      const m: BedMember = Object.assign(serve, { name, dir });
      members.set(name, m);
      return m;
    };
    const api = async <T>(m: BedMember, method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${m.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path} through ${m.name}: ${res.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    };
    const kiln: MemberBed['kiln'] = (m, args) => runKiln(args, { KILN_SERVER: m.url, KILN_TOKEN: token });
    for (const [i, spec] of specs.entries()) {
      if (i > 0 && o.join) await joinMember(first!, work, spec.name, token);
      const m = await start(spec.name, { ...spec, prepared: i > 0 && o.join === true });
      if (spec.ready) await waitForLine(m, spec.ready);
      if (i > 0) continue;
      first = m;
      token = readFileSync(join(first.dir, 'admin-token'), 'utf8').trim();
    }
    return {
      work,
      databaseUrl,
      config,
      token,
      member(name) {
        const m = members.get(name);
        if (!m) throw new Error(`no member ${name} in the bed`);
        return m;
      },
      start,
      async kill(m) {
        const at = Date.now();
        killChild(m.child);
        await m.exited;
        return at;
      },
      api,
      controllers: async (m) => (await api<{ items: MemberListing[] }>(m, 'GET', '/api/v1/controllers')).items,
      kiln,
      logs: (chars = 3000) => [...members.values()].map((m) => `${m.name}:\n${m.output().slice(-chars)}`).join('\n'),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Waits (bounded) until `re` is in the member's output. */
async function waitForLine(m: BedMember, re: RegExp, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100)))
    if (re.test(m.output())) return;
  throw new Error(`no ${re} in the output of member ${m.name} within ${ms} ms`);
}

/** `kiln controller join` of an empty data dir `<work>/<name>` against `from`, with a one-time token made on it. */
async function joinMember(from: BedMember, work: string, name: string, token: string): Promise<void> {
  const onFrom = { KILN_SERVER: from.url, KILN_TOKEN: token };
  const made = await runKiln(['controller', 'join-token', '--json'], onFrom);
  if (made.code !== 0) throw new Error(`kiln controller join-token: ${made.stderr}`);
  const joinToken = (JSON.parse(made.stdout) as { token: string }).token;
  const joined = await runKiln(
    ['controller', 'join', '--from', from.tlsUrl, '--data-dir', join(work, name), '--name', name],
    { KILN_TOKEN: token, KILN_JOIN_TOKEN: joinToken },
  );
  if (joined.code !== 0) throw new Error(`kiln controller join of ${name}: ${joined.stderr}`);
}
