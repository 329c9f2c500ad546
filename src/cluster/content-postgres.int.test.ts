// Two members of one PostgreSQL for real (loopback; test/support/member-bed.ts,
// one bed for the file): A started first, serving a small fixture node image
// from a directory (`--node-image <dir>`: a version file, a random "kernel"
// and "initrd"; building the real one takes minutes and the network); B made
// by `kiln controller join` against A, then started with `--node-image off`.
// - Content between members (docs/cluster.md, "Content between members"): an
//   image imported into A's data dir only; curl asks B for its objects (GET,
//   Range, HEAD), its manifest, an install view and a pack, and B fetches each
//   from A over A's HTTPS API (verified against A's TLS CA, signed with the
//   member credential), checks the SHA-256, stores it once and serves it.
//   Concurrent requests for one object make one peer fetch. An object whose
//   file on A was altered is refused by B (logged, nothing stored) and B
//   answers 404. A's member route refuses a call without the credential, with
//   a wrong one, and over plain HTTP.
// - Image records and tarballs (ADR 0015): B is asked for an image through the
//   API and for its tarball (Range first, then whole and HEAD); B takes the
//   record from A, fetches and verifies the manifest it names, and the tarball
//   by the record's SHA-256; `kiln image list` on B's data dir shows the
//   record then. A second image whose tarball on A was altered is refused.
// - Kiln's node image (ADR 0016): A records its files' sizes and SHA-256s in
//   the store; B is asked for the kernel (unversioned, then Range and HEAD) and
//   the initrd (`?version=`), fetches each from A and serves it only when it
//   matches the record; A's initrd altered is refused by B first.
// - The join (docs/cluster.md "Joining"): B's own CAs and A's data key wrapped
//   to it; trust everywhere (`kiln ssh known-hosts` on either member, a host
//   certificate B signed accepted by Debian's ssh client against Debian's sshd
//   with both lines and refused with A's alone, A's KRL revoking it), A's boot
//   scripts carrying B's URL; a token whose pin is not A's CA and a spent
//   token are refused.
// Each test uses content of its own and checks B's log from its own start.
// Fails, does not skip, when the local PostgreSQL is down.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Agent, fetch as undiciFetch } from 'undici';
import { curl as curlIn, header } from '../../test/support/curl.js';
import { until } from '../../test/support/hook-scenario.js';
import { startMemberBed, type MemberBed } from '../../test/support/member-bed.js';
import { stopChild } from '../../test/support/process.js';
import { freePort, runKiln } from '../../test/support/serve-process.js';
import { createImageCatalog } from '../image/image-catalog.js';
import { createImageStore, type OsImage } from '../image/image-store.js';
import { decodePack } from '../image/objects/pack-frame.js';
import { memberKeyOf, signMemberRequest } from './member-credential.js';
import { peerContentPath } from './peer-fetch.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const scratch = mkdtempSync(join(tmpdir(), 'kiln-content-'));
/** curl (Debian's), bounded: status line, headers and body of one request. */
const curl = (args: string[]) => curlIn(scratch, 30, args);

// The node image A serves: made before A starts.
const version = '6.1.0-99-amd64-0123456789ab';
const imageDir = join(scratch, 'node-image');
const kernel = randomBytes(3 << 20);
const initrd = randomBytes(2 << 20);
mkdirSync(imageDir);
writeFileSync(join(imageDir, 'vmlinuz'), kernel);
writeFileSync(join(imageDir, 'initrd.img'), initrd);
writeFileSync(join(imageDir, 'version'), `${version}\n`);

let bed: MemberBed;
before(async () => {
  bed = await startMemberBed({
    tag: 'content',
    join: true,
    members: [
      { name: 'a', args: ['--node-image', imageDir], ready: /node image: files recorded in the store/ },
      { name: 'b', args: ['--node-image', 'off'] },
    ],
  });
});
after(async () => {
  await bed?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A root of random files as a .tar.gz under the scratch directory. */
function tarballOf(name: string, files: Record<string, Buffer>): string {
  const root = join(scratch, `root-${name}`);
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), bytes);
  }
  const out = join(scratch, `${name}.tar.gz`);
  execFileSync('tar', ['-C', root, '--numeric-owner', '-czf', out, '.']);
  return out;
}

/** Files left in the object store's temp directory. */
function readdirTmp(objects: string): number {
  const tmp = join(objects, 'tmp');
  return existsSync(tmp) ? readdirSync(tmp).length : 0;
}

test(
  "image content imported on one member is fetched through the other: verified, stored once, Range and HEAD; a peer's wrong bytes are refused",
  { timeout: 90_000 },
  async (t) => {
    const t0 = Date.now();
    const [a, b] = [bed.member('a'), bed.member('b')];
    const logFrom = b.output().length;
    try {
      // An image on A only: a 3 MiB file, small ones, and one to alter on A's disk.
      const big = randomBytes(3 << 20);
      const smalls = Array.from({ length: 5 }, (_, i) =>
        Buffer.from(`small file ${i} ${randomBytes(8).toString('hex')}\n`),
      );
      const victim = Buffer.from(`to be altered on A ${randomBytes(8).toString('hex')}\n`);
      const crowd = Buffer.from(`asked for by many at once ${randomBytes(8).toString('hex')}\n`);
      const tarball = tarballOf('objects', {
        'big.bin': big,
        ...Object.fromEntries(smalls.map((s, i) => [`etc/small-${i}`, s])),
        'etc/victim': victim,
        'etc/crowd': crowd,
      });
      const catalogA = createImageCatalog(createImageStore(join(a.dir, 'images')));
      const { image } = await catalogA.importImage('objects-image', tarball);
      const manifestId = image.manifest!;
      const objectsB = join(b.dir, 'images', 'objects');
      const onB = (id: string) => existsSync(join(objectsB, id.slice(0, 2), id.slice(2)));
      assert.ok(!onB(sha(big)), 'B starts without the objects');

      // Range first: B fetches the whole object from A, checks it, then serves the range.
      const bigId = sha(big);
      const ranged = await curl(['-r', '1000-1999', `${b.url}/images/objects/${bigId}`]);
      assert.equal(ranged.status, 206, ranged.headers);
      assert.deepEqual(ranged.body, big.subarray(1000, 2000));
      assert.ok(onB(bigId), 'B stored the object');
      const whole = await curl([`${b.url}/images/objects/${bigId}`]);
      assert.equal(whole.status, 200);
      assert.equal(sha(whole.body), bigId);
      const head = await curl(['-I', `${b.url}/images/objects/${sha(smalls[0]!)}`]);
      assert.equal(head.status, 200, head.headers);
      assert.equal(Number(header(head.headers, 'content-length')), smalls[0]!.length);
      assert.match(header(head.headers, 'cache-control') ?? '', /immutable/);

      // The manifest (its text hashes to the id) and a view B rendered from it, byte-equal to A's.
      const manifest = await curl([`${b.url}/images/manifests/${manifestId}`]);
      assert.equal(manifest.status, 200);
      assert.equal(sha(manifest.body), manifestId);
      const view = await curl([`${b.url}/images/manifests/${manifestId}/files`]);
      assert.equal(view.status, 200);
      assert.deepEqual(view.body, readFileSync(join(a.dir, 'images', 'manifests', `${manifestId}.files`)));

      // A pack of objects B lacks.
      const packIds = smalls.slice(1).map(sha);
      const pack = await curl([
        '-X',
        'POST',
        '-H',
        'content-type: application/json',
        '--data',
        JSON.stringify({ ids: packIds }),
        `${b.url}/images/objects/pack`,
      ]);
      assert.equal(pack.status, 200, pack.body.toString());
      const frames = decodePack(pack.body);
      assert.deepEqual(
        frames.map((f) => f.id),
        packIds,
      );
      for (const f of frames) assert.equal(sha(f.bytes), f.id);

      // Eight requests at once for one object: one fetch from A.
      const crowdId = sha(crowd);
      const many = await Promise.all(Array.from({ length: 8 }, () => curl([`${b.url}/images/objects/${crowdId}`])));
      for (const r of many) assert.deepEqual(r.body, crowd);
      const fetchedLines = b
        .output()
        .split('\n')
        .filter((l) => l.includes('fetched from a peer') && l.includes(crowdId));
      assert.equal(fetchedLines.length, 1, fetchedLines.join('\n'));

      // A peer's wrong bytes: the object's file on A altered (same length); B refuses, logs it, stores nothing.
      const victimId = sha(victim);
      const victimOnA = join(a.dir, 'images', 'objects', victimId.slice(0, 2), victimId.slice(2));
      writeFileSync(victimOnA, Buffer.from(victim.toString().toUpperCase()));
      const refused = await curl([`${b.url}/images/objects/${victimId}`]);
      assert.equal(refused.status, 404, refused.body.toString());
      assert.ok(!onB(victimId), 'nothing stored on B');
      assert.match(b.output().slice(logFrom), /sent bytes that do not hash to the id/);
      assert.equal(readdirTmp(objectsB), 0, 'no temp file left on B');

      // A's member route: the credential is required, must be right, and only over HTTPS.
      const caA = readFileSync(join(a.dir, 'tls', 'ca.pem'), 'utf8');
      const agent = new Agent({ connect: { ca: caA } });
      const path = peerContentPath('objects', bigId);
      const key = memberKeyOf(readFileSync(join(a.dir, 'data.key')));
      const signed = () => signMemberRequest(key, { member: 'test-member', method: 'GET', path, nowMs: Date.now() });
      const call = async (base: string, auth?: string) => {
        const res = await undiciFetch(`${base}${path}`, {
          dispatcher: agent,
          headers: auth ? { authorization: auth } : {},
          signal: AbortSignal.timeout(10_000),
        });
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status === 200) assert.equal(sha(body), bigId);
        return res.status;
      };
      assert.equal(await call(a.tlsUrl), 401, 'no credential');
      const wrong = signMemberRequest(memberKeyOf(randomBytes(32)), {
        member: 'test-member',
        method: 'GET',
        path,
        nowMs: Date.now(),
      });
      assert.equal(await call(a.tlsUrl, wrong), 401, 'another key');
      assert.equal(await call(a.url, signed()), 401, 'plain HTTP');
      assert.equal(await call(a.tlsUrl, signed()), 200, 'signed, over HTTPS');
      await agent.close();
      t.diagnostic(
        `B served a 3 MiB object fetched from A (Range 206, sha256 matched), HEAD, the manifest, a view, a pack of ${packIds.length}; 8 concurrent GETs made 1 peer fetch; A's altered object refused by B (404); the test took ${Date.now() - t0} ms`,
      );
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    }
  },
);

test(
  "an image imported on one member is served through the other: its record from the importer, its manifest and tarball verified by hash; a peer's wrong tarball bytes are refused",
  { timeout: 120_000 },
  async (t) => {
    const t0 = Date.now();
    const [a, b] = [bed.member('a'), bed.member('b')];
    const logFrom = b.output().length;
    // A 2 MiB random file (the tarball does not compress) and a few small ones.
    const rootOf = (name: string) =>
      tarballOf(name, {
        'big.bin': randomBytes(2 << 20),
        ...Object.fromEntries(
          Array.from({ length: 4 }, (_, i) => [
            `etc/f${i}`,
            Buffer.from(`${name} ${i} ${randomBytes(8).toString('hex')}\n`),
          ]),
        ),
      });
    try {
      const catalogA = createImageCatalog(createImageStore(join(a.dir, 'images')));
      const shared = rootOf('shared');
      const { image } = await catalogA.importImage('shared', shared);
      const other = rootOf('other');
      await catalogA.importImage('other', other);
      const imagesB = join(b.dir, 'images');
      assert.equal(existsSync(join(imagesB, 'shared.json')), false, 'B starts without the record');

      // The record through B's API (admin token from A's first start; tokens live in the shared store).
      const viaApi = await curl(['-H', `authorization: Bearer ${bed.token}`, `${b.url}/api/v1/images/shared`]);
      assert.equal(viaApi.status, 200, viaApi.body.toString());
      const record = JSON.parse(viaApi.body.toString()) as OsImage;
      assert.equal(record.manifest, image.manifest);
      assert.equal(record.sha256, image.sha256);
      assert.match(record.fetchedFrom ?? '', /./, 'names the member it came from');
      const manifestOnB = readFileSync(join(imagesB, 'manifests', `${image.manifest}.json`));
      assert.equal(sha(manifestOnB), image.manifest, 'B holds the manifest the record names, hashing to its id');
      const listed = await runKiln(['image', 'list', '--data-dir', b.dir, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(
        (JSON.parse(listed.stdout) as OsImage[]).map((i) => [i.name, i.manifest]),
        [['shared', image.manifest]],
      );

      // The tarball: Range first (B fetches the whole file from A, checks it, then serves the range), then whole, HEAD.
      const bytes = readFileSync(shared);
      const ranged = await curl(['-r', '1000-1999', `${b.url}/images/shared.tar.gz`]);
      assert.equal(ranged.status, 206, ranged.headers);
      assert.deepEqual(ranged.body, bytes.subarray(1000, 2000));
      const whole = await curl([`${b.url}/images/shared.tar.gz`]);
      assert.equal(whole.status, 200);
      assert.equal(sha(whole.body), image.sha256, 'the bytes B serves hash to the record');
      assert.deepEqual(readFileSync(join(imagesB, 'shared.tar.gz')), bytes);
      const head = await curl(['-I', `${b.url}/images/shared.tar.gz`]);
      assert.equal(head.status, 200);
      assert.equal(Number(header(head.headers, 'content-length')), bytes.length);
      const fetched = b
        .output()
        .split('\n')
        .filter((l) => l.includes('fetched from a peer') && l.includes(image.sha256));
      assert.equal(fetched.length, 1, fetched.join('\n'));

      // A peer's wrong bytes: other's tarball on A altered (same length); B takes the record, refuses the tarball.
      const onA = join(a.dir, 'images', 'other.tar.gz');
      const altered = readFileSync(onA);
      altered[altered.length - 100]! ^= 0xff;
      writeFileSync(onA, altered);
      const refused = await curl([`${b.url}/images/other.tar.gz`]);
      assert.equal(refused.status, 404, refused.body.toString());
      assert.match(b.output().slice(logFrom), /sent bytes that do not hash to the id/);
      assert.equal(existsSync(join(imagesB, 'other.tar.gz')), false, 'nothing kept on B');
      assert.deepEqual(
        readdirSync(imagesB).filter((f) => f.endsWith('.tmp')),
        [],
        'no temp file left on B',
      );
      t.diagnostic(
        `B took shared's record from A, its manifest and its ${bytes.length}-byte tarball (Range 206, sha256 matched, one peer fetch); other's altered tarball refused (404); the test took ${Date.now() - t0} ms`,
      );
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    }
  },
);

test(
  "a node image only one member has is served through the other, each file checked against the store's record; a peer's altered file is refused",
  { timeout: 120_000 },
  async (t) => {
    const t0 = Date.now();
    const b = bed.member('b');
    const logFrom = b.output().length;
    try {
      const db = new pg.Client({ connectionString: bed.databaseUrl });
      await db.connect();
      const rows = (
        await db.query<{ file: string; size: string; sha256: string; recorded_by: string }>(
          'select file, size, sha256, recorded_by from node_image_files where version = $1 order by file',
          [version],
        )
      ).rows;
      await db.end();
      assert.deepEqual(
        rows.map((r) => [r.file, Number(r.size), r.sha256]),
        [
          ['initrd.img', initrd.length, sha(initrd)],
          ['vmlinuz', kernel.length, sha(kernel)],
        ],
      );
      const copies = join(b.dir, 'cache', 'node-image-peers', version);
      assert.equal(existsSync(copies), false, 'B starts without a copy');

      // A's initrd altered on disk after A recorded it (same length): B refuses it, keeps nothing, answers 404.
      const altered = Buffer.from(initrd);
      altered[altered.length - 100]! ^= 0xff;
      writeFileSync(join(imageDir, 'initrd.img'), altered);
      const refused = await curl([`${b.url}/boot/kiln/x86_64/initrd.img?version=${version}`]);
      assert.equal(refused.status, 404, refused.body.toString());
      assert.match(b.output().slice(logFrom), /sent bytes that do not hash to the id/);
      assert.equal(existsSync(join(copies, 'initrd.img')), false, 'nothing kept on B');
      assert.deepEqual(readdirSync(copies), [], 'no temp file left on B');
      writeFileSync(join(imageDir, 'initrd.img'), initrd);

      // The kernel, unversioned: B has no image of its own and serves the version recorded last (A's).
      const ranged = await curl(['-r', '1000-1999', `${b.url}/boot/kiln/x86_64/vmlinuz`]);
      assert.equal(ranged.status, 206, ranged.headers);
      assert.deepEqual(ranged.body, kernel.subarray(1000, 2000));
      const whole = await curl([`${b.url}/boot/kiln/x86_64/vmlinuz`]);
      assert.equal(whole.status, 200);
      assert.equal(sha(whole.body), sha(kernel), 'the bytes B serves hash to the record');
      assert.deepEqual(readFileSync(join(copies, 'vmlinuz')), kernel);
      const head = await curl(['-I', `${b.url}/boot/kiln/x86_64/vmlinuz?version=${version}`]);
      assert.equal(head.status, 200);
      assert.equal(Number(header(head.headers, 'content-length')), kernel.length);

      // The initrd, pinned to A's version, now that A's file is as recorded again.
      const pinned = await curl([`${b.url}/boot/kiln/x86_64/initrd.img?version=${version}`]);
      assert.equal(pinned.status, 200, pinned.body.toString());
      assert.equal(sha(pinned.body), sha(initrd));
      const fetched = b
        .output()
        .split('\n')
        .filter((l) => l.includes('fetched from a peer') && l.includes('node-image'));
      assert.equal(fetched.length, 2, fetched.join('\n'));
      const other = await curl([`${b.url}/boot/kiln/x86_64/vmlinuz?version=6.1.0-99-amd64-ffffffffffff`]);
      assert.equal(other.status, 404, 'a version nobody recorded');
      t.diagnostic(
        `B served A's ${version}: a ${kernel.length}-byte kernel (Range 206, sha256 matched) and a ${initrd.length}-byte initrd, one peer fetch each; A's altered initrd refused (404); the test took ${Date.now() - t0} ms`,
      );
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    }
  },
);

const canSsh = existsSync('/usr/sbin/sshd') && process.getuid?.() === 0;

/** Debian's sshd on a loopback port with one host key and its certificate; stopped by PID when the test ends. */
async function startSshd(t: TestContext, dir: string, key: string, cert: string): Promise<number> {
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755, recursive: true });
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${key}`,
      `HostCertificate ${cert}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'AuthorizedKeysFile none',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  t.after(() => stopChild(child, 5_000));
  await until('sshd listening', () => log.includes(`port ${port}`), 10_000).catch(() => {
    throw new Error(`sshd did not start:\n${log}`);
  });
  return port;
}

/** ssh's host verification alone (no user login needed): the output of `ssh -v` up to authentication. */
function sshHostCheck(port: number, knownHosts: string, alias: string): Promise<{ code: number; stderr: string }> {
  const args = [
    '-F',
    '/dev/null',
    '-v',
    '-p',
    String(port),
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    'PubkeyAuthentication=no',
    '-o',
    `HostKeyAlias=${alias}`,
    '-o',
    'HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com',
    '-o',
    'ConnectTimeout=10',
    'root@127.0.0.1',
    'true',
  ];
  return new Promise((resolve) =>
    execFile('ssh', args, { timeout: 30_000, encoding: 'utf8' }, (err, _o, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    ),
  );
}

test(
  'kiln controller join: own CAs, the data key wrapped to the joiner, trust in every member CA, boot URLs of both',
  { timeout: 120_000 },
  async (t) => {
    const [a, b] = [bed.member('a'), bed.member('b')];
    const [dirA, dirB] = [a.dir, b.dir];
    const work = mkdtempSync(join(scratch, 'join-'));
    const onA = { KILN_SERVER: a.url, KILN_TOKEN: bed.token };
    const onB = { KILN_SERVER: b.url, KILN_TOKEN: bed.token };
    try {
      // B was joined by the bed (`kiln controller join --from <A's HTTPS> --name b`) and started on the store: its
      // unwrapped key passed the store's check (a wrong key stops a member at start).
      assert.equal(statSync(join(dirB, 'data.key')).mode & 0o777, 0o600);
      assert.deepEqual(
        readFileSync(join(dirB, 'data.key')),
        readFileSync(join(dirA, 'data.key')),
        "B holds the store's data key",
      );
      // B's CAs are its own: no private key came from A.
      for (const f of ['ssh/ssh_ca_ed25519', 'tls/ca-key.pem'])
        assert.notDeepEqual(readFileSync(join(dirB, f)), readFileSync(join(dirA, f)), f);
      const sshFp = (dir: string) =>
        execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'ssh', 'ssh_ca_ed25519.pub')], { encoding: 'utf8' }).split(
          ' ',
        )[1]!;
      const [fpA, fpB] = [sshFp(dirA), sshFp(dirB)];

      // Trust everywhere: one @cert-authority line per member, on either member (its own first).
      const khA = await runKiln(['ssh', 'known-hosts'], onA);
      const khB = await runKiln(['ssh', 'known-hosts'], onB);
      assert.equal(khA.code, 0, khA.stderr);
      const linesA = khA.stdout.trim().split('\n');
      const linesB = khB.stdout.trim().split('\n');
      assert.equal(linesA.length, 2, khA.stdout);
      assert.deepEqual([...linesB].sort(), [...linesA].sort());
      const keyOf = (dir: string) =>
        readFileSync(join(dir, 'ssh', 'ssh_ca_ed25519.pub'), 'utf8')
          .split(' ')
          .slice(0, 2)
          .join(' ');
      assert.equal(linesA[0], `@cert-authority * ${keyOf(dirA)}`);
      assert.equal(linesB[0], `@cert-authority * ${keyOf(dirB)}`);
      const bundle = await (await fetch(`${a.url}/api/v1/controllers/ca-bundle`)).text();
      assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 2);

      // A node enrols through B and has its host key signed by B's CA.
      const enrol = await fetch(`${b.url}/api/v1/node/discover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          facts: { bootMac: '52:54:00:10:70:01', nics: [{ mac: '52:54:00:10:70:01', name: 'eth0', link: true }] },
        }),
      });
      assert.equal(enrol.status, 200, await enrol.clone().text());
      const node = (await enrol.json()) as { name: string; credential: string };
      const hostKey = join(work, 'ssh_host_ed25519_key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
      const signed = await fetch(`${b.url}/api/v1/node/ssh/host-certificates`, {
        method: 'POST',
        headers: { authorization: `Bearer ${node.credential}`, 'content-type': 'text/plain' },
        body: readFileSync(`${hostKey}.pub`, 'utf8'),
      });
      const certText = await signed.text();
      assert.equal(signed.status, 200, certText);
      writeFileSync(`${hostKey}-cert.pub`, certText);
      const shown = execFileSync('ssh-keygen', ['-L', '-f', `${hostKey}-cert.pub`], { encoding: 'utf8' });
      assert.match(shown, new RegExp(`Signing CA: ED25519 ${fpB.replace(/[+/]/g, '\\$&')}`), shown);
      const serial = Number(/Serial: (\d+)/.exec(shown)![1]);

      if (canSsh) {
        const port = await startSshd(t, work, hostKey, `${hostKey}-cert.pub`);
        const both = join(work, 'known_hosts_both');
        writeFileSync(both, khA.stdout);
        const onlyA = join(work, 'known_hosts_a');
        writeFileSync(onlyA, `${linesA[0]}\n`);
        // Host verification passes with the printed lines (ssh then fails only at user authentication, which this sshd offers none of).
        const ok = await sshHostCheck(port, both, node.name);
        assert.match(ok.stderr, /is known and matches the ED25519-CERT host certificate/, ok.stderr);
        assert.match(
          ok.stderr,
          new RegExp(`Server host certificate: ssh-ed25519-cert-v01@openssh.com .* serial ${serial} `),
        );
        assert.doesNotMatch(ok.stderr, /Host key verification failed/);
        const refused = await sshHostCheck(port, onlyA, node.name);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /Host key verification failed/);
        t.diagnostic(
          `ssh trusting \`kiln ssh known-hosts\` accepted the host certificate serial ${serial} from B (CA ${fpB}); with A's line alone it was refused`,
        );
      } else t.diagnostic('no sshd or not root: the ssh client check was skipped');

      // Revoked through A: A's KRL names the serial under B's CA too (ssh-keygen -Q reads it).
      const revoked = await runKiln(['ssh', 'revoke', '--serial', String(serial)], onA);
      assert.equal(revoked.code, 0, revoked.stderr);
      const krl = join(work, 'krl');
      writeFileSync(krl, Buffer.from(await (await fetch(`${a.url}/api/v1/ssh/revoked-keys`)).arrayBuffer()));
      const q = await new Promise<string>((resolve) =>
        execFile('ssh-keygen', ['-Q', '-f', krl, `${hostKey}-cert.pub`], { encoding: 'utf8' }, (_e, out) =>
          resolve(out),
        ),
      );
      assert.match(q, /REVOKED/, q);

      // One address for machines: A's chain script tries A, then B (once B's heartbeat is in the store).
      await until(
        "B's URL in A's chain script",
        async () => (await (await fetch(`${a.url}/boot.ipxe`)).text()).includes(`${b.url}/boot/host.ipxe`),
        15_000,
      );
      const chain = await (await fetch(`${a.url}/boot.ipxe`)).text();
      t.diagnostic(`A's /boot.ipxe:\n${chain}`);
      assert.ok(chain.indexOf(`${a.url}/boot/host.ipxe`) < chain.indexOf(`${b.url}/boot/host.ipxe`));
      const list = await runKiln(['controller', 'list'], onA);
      t.diagnostic(`kiln controller list:\n${list.stdout}\nmembers' CAs: A ${fpA}, B ${fpB}`);

      // Refusals, last (a join would add a member's CAs): a token whose pin is not A's CA is refused before
      // anything is sent; the same token then joins, so the refusal did not spend it; then it is spent (exit 5).
      const made = await runKiln(['controller', 'join-token', '--json'], onA);
      assert.equal(made.code, 0, made.stderr);
      const token = (JSON.parse(made.stdout) as { token: string }).token;
      const join_ = (joinToken: string, dir: string) =>
        runKiln(['controller', 'join', '--from', a.tlsUrl, '--data-dir', dir, '--name', 'c'], {
          KILN_TOKEN: bed.token,
          KILN_JOIN_TOKEN: joinToken,
        });
      const wrongPin = await join_(token.replace(/.{8}$/, '00000000'), join(work, 'c'));
      assert.equal(wrongPin.code, 6, wrongPin.stderr);
      assert.match(wrongPin.stderr, /does not serve the TLS CA the join token pins/);
      assert.ok(!existsSync(join(work, 'c', 'data.key')));
      const joined = await join_(token, join(work, 'c'));
      assert.equal(joined.code, 0, joined.stderr);
      t.diagnostic(joined.stdout);
      const again = await join_(token, join(work, 'd'));
      assert.equal(again.code, 5, again.stderr);
      assert.match(again.stderr, /join_token_invalid/);
      assert.ok(!existsSync(join(work, 'd', 'data.key')));
    } catch (err) {
      t.diagnostic(bed.logs());
      throw err;
    }
  },
);
