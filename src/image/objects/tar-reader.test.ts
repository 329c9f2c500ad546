import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodePaxRecords, decodeTarHeader, TAR_BLOCK } from './tar-header.js';
import { readTar, type TarEntry } from './tar-reader.js';

/** A ustar header block: each field written at its offset, octal numbers NUL-terminated, checksum filled last. */
function header(f: { name: string; type: string; size?: number; linkname?: string; mode?: number; major?: number }) {
  const b = Buffer.alloc(TAR_BLOCK);
  b.write(f.name, 0, 100); // name
  b.write(`${(f.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100); // mode
  b.write('0000000\0', 108); // uid
  b.write('0000000\0', 116); // gid
  b.write(`${(f.size ?? 0).toString(8).padStart(11, '0')}\0`, 124); // size
  b.write('14500000000\0', 136); // mtime
  b.write(f.type, 156); // typeflag
  b.write(f.linkname ?? '', 157, 100); // linkname
  b.write('ustar\0', 257); // POSIX magic
  b.write('00', 263); // version
  b.write(`${(f.major ?? 0).toString(8).padStart(7, '0')}\0`, 329); // devmajor
  b.write('0000000\0', 337); // devminor
  b.write('        ', 148); // chksum counted as spaces
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return b;
}

const pad = (body: Buffer) => Buffer.concat([body, Buffer.alloc((TAR_BLOCK - (body.length % TAR_BLOCK)) % TAR_BLOCK)]);

/** A pax record: "<len> key=value\n", len counting itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len++;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

async function entriesOf(tar: Buffer, chunk = 100) {
  const chunks: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) chunks.push(tar.subarray(i, i + chunk));
  const out: (TarEntry & { body: string })[] = [];
  async function* source() {
    yield* chunks;
  }
  for await (const { entry, body } of readTar(source())) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(Buffer.from(c));
    out.push({ ...entry, body: Buffer.concat(parts).toString() });
  }
  return out;
}

describe('tar reader', () => {
  it('decodes a header and refuses a bad checksum', () => {
    const h = header({ name: 'etc/x', type: '0', size: 5, mode: 0o4755 });
    assert.deepEqual(decodeTarHeader(h), {
      name: 'etc/x',
      mode: 0o4755,
      uid: 0,
      gid: 0,
      size: 5,
      mtime: 0o14500000000,
      type: '0',
      linkname: '',
      devmajor: 0,
      devminor: 0,
    });
    h[0] ^= 1;
    assert.throws(() => decodeTarHeader(h), { code: 'validation_failed' });
  });

  it('keeps binary xattr values from pax records byte for byte', () => {
    const cap = Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0xff, 0x0a, 0x3d]);
    const recs = decodePaxRecords(
      Buffer.concat([paxRecord('SCHILY.xattr.security.capability', cap), paxRecord('path', Buffer.from('a/b'))]),
    );
    assert.deepEqual(Buffer.from(recs.get('SCHILY.xattr.security.capability')!), cap);
    assert.equal(Buffer.from(recs.get('path')!).toString(), 'a/b');
  });

  it('streams bodies across chunk edges and applies pax and GNU long names to the next entry', async () => {
    const long = `${'d'.repeat(120)}/file`;
    const pax = Buffer.concat([
      paxRecord('SCHILY.xattr.user.k', Buffer.from([0, 1, 2])),
      paxRecord('mtime', Buffer.from('7.5')),
    ]);
    const tar = Buffer.concat([
      header({ name: './', type: '5', mode: 0o755 }),
      header({ name: 'PaxHeaders/x', type: 'x', size: pax.length }),
      pad(pax),
      header({ name: 'x', type: '0', size: 700 }),
      pad(Buffer.alloc(700, 'x')),
      header({ name: '././@LongLink', type: 'L', size: long.length + 1 }),
      pad(Buffer.from(`${long}\0`)),
      header({ name: long.slice(0, 99), type: '0', size: 3 }),
      pad(Buffer.from('abc')),
      header({ name: 'h', type: '1', linkname: 'x' }),
      header({ name: 'dev', type: '3', major: 4 }),
      Buffer.alloc(TAR_BLOCK * 2),
    ]);
    const got = await entriesOf(tar, 77);
    assert.deepEqual(
      got.map((e) => [e.name, e.type, e.body.length, e.linkname, e.mtime]),
      [
        ['./', '5', 0, '', 0o14500000000],
        ['x', '0', 700, '', 7.5],
        [long, '0', 3, '', 0o14500000000],
        ['h', '1', 0, 'x', 0o14500000000],
        ['dev', '3', 0, '', 0o14500000000],
      ],
    );
    assert.deepEqual([...got[1].xattrs], [['user.k', new Uint8Array([0, 1, 2])]]);
    assert.equal(got[1].xattrs.size, 1);
    assert.equal(got[2].xattrs.size, 0, 'a pax header applies to one entry only');
    assert.equal(got[4].devmajor, 4);
  });

  it('refuses an archive that ends inside a body', async () => {
    const tar = Buffer.concat([header({ name: 'x', type: '0', size: 700 }), Buffer.alloc(100)]);
    await assert.rejects(entriesOf(tar), { code: 'validation_failed' });
  });
});
