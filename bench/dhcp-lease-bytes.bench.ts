// Bytes written per lease by the lease table's layout and the group commit's
// batch size, without the network: better-sqlite3, WAL, synchronous=FULL (one
// fsync per commit, as Kiln's lease worker), `pre` leases already present,
// then `n` fresh leases (sequential addresses, random MACs, as fresh clients
// get) committed in batches; write_bytes of this process (proc(5) io) ÷ n,
// after a final checkpoint. Layouts: `0100` (rowid table, primary-key index
// on ip, index on (mac, subnet)), `0420` (WITHOUT ROWID on ip, no MAC index:
// what migration 0420 makes), and `journal` (an append-only file, fdatasync
// per batch: the floor of any fsynced design, Kea memfile's layout).
// Run: npx tsx bench/dhcp-lease-bytes.bench.ts [n=2048] [pre=20000] (writes its files under this directory).
import Database from 'better-sqlite3';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

const n = Number(process.argv[2] ?? 2048);
const pre = Number(process.argv[3] ?? 20_000);
const dir = mkdtempSync(join(process.cwd(), '.lease-bytes-'));
const written = (): number => Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
const ipOf = (i: number): string => `10.${76 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const mac = (): string => [...randomBytes(6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
type Row = [string, string, string, number, null, string];
const row = (i: number): Row => [ipOf(i), mac(), '10.76.0.0/14', Date.now() + 43_200_000, null, 'bound'];

function journal(batch: number): number {
  const fd = openSync(join(dir, `journal-${batch}`), 'a');
  const w0 = written();
  for (let i = 0; i < n; i += batch) {
    let s = '';
    for (let j = i; j < i + batch; j++) s += `${row(j).join(',')}\n`;
    writeSync(fd, s);
    fdatasyncSync(fd);
  }
  closeSync(fd);
  return (written() - w0) / n;
}

function table(layout: '0100' | '0420', batch: number): number {
  const db = new Database(join(dir, `${layout}-${batch}.sqlite`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const cols =
    'ip text primary key not null, mac text not null, subnet text not null, expires_at bigint not null, hostname text, state text not null';
  db.exec(`create table dhcp_leases (${cols})${layout === '0420' ? ' without rowid' : ''}`);
  if (layout === '0100') db.exec('create index dhcp_leases_mac on dhcp_leases (mac, subnet)');
  const upsert = db.prepare(
    'insert into dhcp_leases (ip, mac, subnet, expires_at, hostname, state) values (?, ?, ?, ?, ?, ?) on conflict (ip) do update set mac = excluded.mac, subnet = excluded.subnet, expires_at = excluded.expires_at, hostname = excluded.hostname, state = excluded.state where dhcp_leases.mac = excluded.mac or dhcp_leases.expires_at <= ?',
  );
  // 0100's rule deletes the MAC's other leases through the MAC index; 0420's finds the previous address in a map (none for fresh clients).
  const drop =
    layout === '0100'
      ? db.prepare("delete from dhcp_leases where mac = ? and subnet = ? and ip != ? and state = 'bound'")
      : undefined;
  const commit = db.transaction((rows: Row[]) => {
    for (const r of rows) {
      upsert.run(...r, Date.now());
      drop?.run(r[1], r[2], r[0]);
    }
  });
  commit(Array.from({ length: pre }, (_, i) => row(i)));
  db.pragma('wal_checkpoint(TRUNCATE)');
  const w0 = written();
  for (let i = pre; i < pre + n; i += batch) commit(Array.from({ length: batch }, (_, k) => row(i + k)));
  db.pragma('wal_checkpoint(TRUNCATE)');
  const per = (written() - w0) / n;
  db.close();
  return per;
}

try {
  const batches = [1, 8, 32, 128, 2048];
  console.log(`bytes written per lease, ${n} fresh leases after ${pre}, by group-commit batch size\n`);
  console.log(`layout   ${batches.map((b) => `batch ${b}`.padStart(11)).join('')}`);
  for (const layout of ['0100', '0420', 'journal'] as const)
    console.log(
      `${layout.padEnd(8)} ${batches.map((b) => (layout === 'journal' ? journal(b) : table(layout, b)).toFixed(0).padStart(11)).join('')}`,
    );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
