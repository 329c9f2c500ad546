// Equal members without moving a private key (docs/cluster.md "Joining",
// issue 17): every member has its own SSH CA and TLS CA, whose public halves
// are in `member_cas`; the data key (it seals BMC passwords and hook secrets)
// reaches a joining member wrapped to a key pair the joiner made for that one
// join; a one-time join token, stored hashed, admits it.
//
// At start a member proves it holds the store's data key (it opens the check
// value the first member sealed) and registers its own CAs; then it keeps a
// copy of every member's CAs and of the healthy members' URLs in memory,
// refreshed every few seconds, for known_hosts, the KRL, the CA bundle nodes
// verify with, and the URLs iPXE scripts and agents fail over to.
import { X509Certificate } from 'node:crypto';
import type { Kysely } from 'kysely';
import { KilnError } from '../error/kiln-error.js';
import { appendEvent } from '../event/event-log.js';
import { silentLogger, type Logger } from '../log/logger.js';
import type { Database } from '../schema.js';
import { withTransaction } from '../store/transaction.js';
import { openSecret, sealSecret, type DataKey } from '../trust/credential/secret-box.js';
import { wrapKey, type WrappedKey } from '../trust/credential/key-wrap.js';
import type { SshCa } from '../trust/ssh/ssh-ca.js';
import { formatSshFingerprint, parseSshPublicKey, type SshPublicKey } from '../trust/ssh/ssh-public-key.js';
import type { TlsCa } from '../trust/tls/tls-ca.js';
import { caPinOf, formatJoinToken, hashJoinSecret, newJoinToken, parseJoinToken } from './join-token.js';
import { memberHealth } from './roles.js';
import { listMembers } from './sql-cluster-store.js';
import * as store from './sql-member-trust-store.js';

/** The fixed text sealed with the store's data key: a member that cannot open it has another key. */
const checkText = 'kiln data key check v1';
const checkContext = 'data-key-check';

/** One member's CAs as the API shows them. */
export interface MemberCaView {
  name: string;
  sshFingerprint: string;
  sshCaPublicKey: string;
  tlsCaFingerprint: string;
  addedAt: string;
  addedBy: string;
  lastStartedAt: string | null;
  /** The member's repo signing key's fingerprint (docs/repo.md, "Members"); null until it has a repo key. */
  repoKeyFingerprint: string | null;
  /** This controller's own CAs. */
  self: boolean;
}

/** One member's repo public key as the store holds it. */
export interface MemberRepoKey {
  /** The member's name and its SSH CA fingerprint (the `member_cas` id, what `controllers.member_ca` names). */
  name: string;
  memberCa: string;
  fingerprint: string;
  /** Binary OpenPGP public key. */
  publicKey: Uint8Array;
  self: boolean;
}

/** What a joining controller sends (besides the admin token in the header). */
export interface JoinRequest {
  token: string;
  name: string;
  sshCaPublicKey: string;
  tlsCaPem: string;
  /** A raw X25519 public key (base64url) made for this join only. */
  wrapPublicKey: string;
}

/** What it gets back: the data key wrapped to its key, and the members' CAs now. */
export interface JoinReply {
  wrapped: WrappedKey;
  /** The context the key was wrapped under (`join:<token id>`). */
  context: string;
  members: MemberCaView[];
}

/** Printable ASCII without spaces, as a controller name in `kiln controller list`. */
const memberName = /^[\x21-\x7e]{1,128}$/;

/** Creates the service; call `start()` once, after migrations, before serving. */
export function createMemberTrust(deps: {
  db: Kysely<Database>;
  /** `url`: this member's base URL (plain HTTP); `apiUrl`: its node API URL (HTTPS when TLS is on), default `url`. */
  own: { sshCa: SshCa; tlsCa: TlsCa; name: string; url: string; apiUrl?: string };
  dataKey: DataKey;
  /** A member is in the failover list while its heartbeat is younger than this (cluster.staleSeconds). */
  staleMs: number;
  now?: () => Date;
  log?: Logger;
}) {
  const { db, own } = deps;
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? silentLogger;
  const ownId = own.sshCa.fingerprint;
  const ownTlsPin = caPinOf(own.tlsCa.certPem);
  let cas: store.MemberCaRow[] = [];
  const ownApi = own.apiUrl ?? own.url;
  let urls: string[] = [own.url];
  let apiUrls: string[] = [ownApi];
  let knownUrls: string[] = [own.url];

  const view = (r: store.MemberCaRow): MemberCaView => ({
    name: r.name,
    sshFingerprint: r.id,
    sshCaPublicKey: r.sshCaPublicKey,
    tlsCaFingerprint: r.tlsCaFingerprint,
    addedAt: r.addedAt,
    addedBy: r.addedBy,
    lastStartedAt: r.lastStartedAt,
    repoKeyFingerprint: r.repoKeyFingerprint ?? null,
    self: r.id === ownId,
  });
  /** Own CA first, then the others in the order they joined. */
  const ordered = (): store.MemberCaRow[] => {
    const mine = cas.find((c) => c.id === ownId);
    return [...(mine ? [mine] : []), ...cas.filter((c) => c.id !== ownId)];
  };

  async function checkDataKey(): Promise<void> {
    await store.putDataKeyCheck(db, sealSecret(deps.dataKey, checkText, checkContext), now().toISOString());
    const sealed = await store.getDataKeyCheck(db);
    const opens = (): boolean => {
      try {
        return sealed !== undefined && openSecret(deps.dataKey, sealed, checkContext) === checkText;
      } catch {
        return false;
      }
    };
    const ok = opens();
    if (!ok)
      throw new KilnError(
        'config_invalid',
        "data.key in this controller's data dir is not the data key of this store (it cannot open what other members sealed): join this controller with `kiln controller join --from https://<member>` on an empty data dir, or give it a member's data.key",
      );
  }

  async function refresh(): Promise<void> {
    cas = await store.listMemberCas(db);
    const at = now();
    const members = await listMembers(db, new Date(at.getTime() - 86_400_000).toISOString());
    const healthy = members.filter(
      (m) =>
        memberHealth(
          { lastSeen: Date.parse(m.lastSeen), stopped: m.stoppedAt !== null },
          at.getTime(),
          deps.staleMs,
        ) === 'healthy',
    );
    // Oldest start first (listMembers gives newest first), so every member hands out the same order after its own.
    const oldestFirst = healthy.reverse();
    urls = [...new Set([own.url, ...oldestFirst.map((m) => m.url)])];
    apiUrls = [...new Set([ownApi, ...oldestFirst.flatMap((m) => (m.apiUrl ? [m.apiUrl] : []))])];
    knownUrls = [...new Set([own.url, ...members.map((m) => m.url)])];
  }

  function checkJoinRequest(r: JoinRequest): { ssh: SshPublicKey; tls: X509Certificate } {
    const issue = (path: string, message: string) =>
      new KilnError('validation_failed', `${path}: ${message}`, { issues: [{ path, code: 'invalid', message }] });
    if (!memberName.test(r.name)) throw issue('name', 'must be 1–128 printable characters without spaces');
    let ssh: SshPublicKey;
    try {
      ssh = parseSshPublicKey(r.sshCaPublicKey);
    } catch {
      throw issue('sshCaPublicKey', 'is not an OpenSSH public key line');
    }
    if (ssh.type !== 'ssh-ed25519')
      throw issue('sshCaPublicKey', "must be an ssh-ed25519 key (Kiln's SSH CAs are Ed25519)");
    if (/PRIVATE KEY/.test(r.tlsCaPem)) throw issue('tlsCaPem', 'holds a private key: send only the CA certificate');
    if ((r.tlsCaPem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length !== 1)
      throw issue('tlsCaPem', 'must be exactly one PEM certificate');
    let tls: X509Certificate;
    try {
      tls = new X509Certificate(r.tlsCaPem);
    } catch {
      throw issue('tlsCaPem', 'is not a PEM certificate');
    }
    if (!tls.ca) throw issue('tlsCaPem', 'is not a CA certificate (basicConstraints cA is not set)');
    if (Date.parse(tls.validTo) <= now().getTime()) throw issue('tlsCaPem', `expired on ${tls.validTo}`);
    return { ssh, tls };
  }

  /** The members' CAs (GET /api/v1/controllers/cas). */
  const list = (): MemberCaView[] => ordered().map(view);

  return {
    /** Checks the data key against the store, registers this member's CAs, loads every member's. */
    async start(): Promise<void> {
      await checkDataKey();
      const at = now().toISOString();
      const row = {
        id: ownId,
        name: own.name,
        sshCaPublicKey: own.sshCa.publicKeyLine,
        tlsCaPem: own.tlsCa.certPem,
        tlsCaFingerprint: ownTlsPin,
        addedAt: at,
        addedBy: 'start',
        lastStartedAt: at,
      };
      if (await store.insertMemberCa(db, row))
        log.info({ ssh: ownId, tls: ownTlsPin }, "cluster: registered this member's CAs");
      else
        await store.touchMemberCa(db, ownId, {
          name: own.name,
          tlsCaPem: own.tlsCa.certPem,
          tlsCaFingerprint: ownTlsPin,
          at,
        });
      await refresh();
    },
    /** Re-reads the members' CAs and healthy URLs (every few seconds, from `main`). */
    refresh,
    /** Every member's SSH CA public key, this member's first (cached: no store read). */
    sshCaKeys(): SshPublicKey[] {
      const rows = ordered();
      return rows.length > 0 ? rows.map((r) => parseSshPublicKey(r.sshCaPublicKey)) : [own.sshCa.publicKey];
    },
    /** Every member's TLS CA certificate in one PEM bundle, this member's first (cached). */
    tlsCaBundle(): string {
      const rows = ordered();
      const pems = rows.length > 0 ? rows.map((r) => r.tlsCaPem) : [own.tlsCa.certPem];
      return pems.map((p) => `${p.trim()}\n`).join('');
    },
    /** This member's base URL first, then every healthy member's (cached). */
    memberUrls(): readonly string[] {
      return urls;
    },
    /** This member's node API URL first, then every healthy member's that recorded one (cached). */
    memberApiUrls(): readonly string[] {
      return apiUrls;
    },
    /**
     * Every member's base URL seen in the last day, healthy or not (cached): a deployment's boot spec holds the
     * URL of the member that deployed it, which may be dead by the time the machine boots.
     */
    knownMemberUrls(): readonly string[] {
      return knownUrls;
    },
    list,
    /** Every member's repo public key that is registered, this member's first (cached: no store read). */
    repoKeys(): MemberRepoKey[] {
      return ordered().flatMap((r) =>
        r.repoKeyFingerprint && r.repoPublicKey
          ? [
              {
                name: r.name,
                memberCa: r.id,
                fingerprint: r.repoKeyFingerprint,
                publicKey: new Uint8Array(Buffer.from(r.repoPublicKey, 'base64')),
                self: r.id === ownId,
              },
            ]
          : [],
      );
    },
    /**
     * Registers this member's repo public key (the caller checked it holds no secret key material); nothing is
     * written when the store has it already. Peers see it at their next refresh.
     */
    async putOwnRepoKey(key: { fingerprint: string; publicKey: Uint8Array }): Promise<boolean> {
      const mine = cas.find((c) => c.id === ownId);
      const text = Buffer.from(key.publicKey).toString('base64');
      if (mine?.repoKeyFingerprint === key.fingerprint && mine.repoPublicKey === text) return false;
      await store.putMemberRepoKey(db, ownId, { fingerprint: key.fingerprint, publicKey: text });
      log.info({ fingerprint: key.fingerprint }, "cluster: registered this member's repo public key");
      await refresh();
      return true;
    },
    /**
     * Records what this member's published repo subset serves (JSON, src/repo/peer-sync-decision.ts); nothing is
     * written when the store has it already. Peers read it at their next heartbeat and may sync a newer subset.
     */
    async putOwnRepoReleases(record: string): Promise<boolean> {
      if (cas.find((c) => c.id === ownId)?.repoReleases === record) return false;
      await store.putMemberRepoReleases(db, ownId, record);
      await refresh();
      return true;
    },
    /** A new one-time join token; only its secret's hash is stored. The text is shown once. */
    async createJoinToken(
      actor: string,
      ttlMinutes: number,
    ): Promise<{ token: string; id: string; expiresAt: string }> {
      const t = newJoinToken(own.tlsCa.certPem);
      const at = now();
      const expiresAt = new Date(at.getTime() + ttlMinutes * 60_000).toISOString();
      await withTransaction(db, async (tx) => {
        await store.insertJoinToken(tx, {
          id: t.id,
          secretHash: hashJoinSecret(t.secret),
          createdAt: at.toISOString(),
          createdBy: actor,
          expiresAt,
        });
        await appendEvent(
          tx,
          {
            actor,
            kind: 'controller.join_token',
            message: `controller join token ${t.id} made, valid until ${expiresAt}`,
            data: { id: t.id, expiresAt },
          },
          at.toISOString(),
        );
      });
      return { token: formatJoinToken(t), id: t.id, expiresAt };
    },
    /**
     * Admits a joining controller: spends the token, registers its CAs and
     * wraps the data key to its one-time key, in one transaction (the key is
     * wrapped only after the token is spent). Throws join_token_invalid,
     * validation_failed or conflict (its SSH CA is a member's already).
     */
    async join(r: JoinRequest, actor: string): Promise<JoinReply> {
      const token = parseJoinToken(r.token);
      const { ssh, tls } = checkJoinRequest(r);
      const at = now().toISOString();
      const id = formatSshFingerprint(ssh.blob);
      const tlsPin = caPinOf(tls.toString());
      const context = `join:${token.id}`;
      const wrapped = await withTransaction(db, async (tx) => {
        if (
          !(await store.consumeJoinToken(tx, {
            id: token.id,
            secretHash: hashJoinSecret(token.secret),
            at,
            usedBy: r.name,
          }))
        )
          throw new KilnError(
            'join_token_invalid',
            `join token ${token.id} is unknown, expired or already used: make a new one on a member (kiln controller join-token)`,
          );
        const added = await store.insertMemberCa(tx, {
          id,
          name: r.name,
          sshCaPublicKey: `${ssh.type} ${Buffer.from(ssh.blob).toString('base64')}`,
          tlsCaPem: tls.toString(),
          tlsCaFingerprint: tlsPin,
          addedAt: at,
          addedBy: `join:${token.id} by ${actor}`,
          lastStartedAt: null,
        });
        if (!added) throw new KilnError('conflict', `the SSH CA ${id} is a member's already: join with a new data dir`);
        await appendEvent(
          tx,
          {
            actor,
            kind: 'controller.joined',
            subject: r.name,
            message: `controller ${r.name} joined with join token ${token.id}: SSH CA ${id}, TLS CA sha256 ${tlsPin}; the data key was wrapped to its one-time key`,
            data: { name: r.name, token: token.id, sshFingerprint: id, tlsCaFingerprint: tlsPin },
          },
          at,
        );
        return wrapKey(deps.dataKey, r.wrapPublicKey, context);
      });
      await refresh();
      log.info({ name: r.name, ssh: id, tls: tlsPin }, 'cluster: a controller joined');
      return { wrapped, context, members: list() };
    },
  };
}

/** The member trust service's type. */
export type MemberTrust = ReturnType<typeof createMemberTrust>;
