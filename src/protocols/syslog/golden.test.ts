import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { decodeSyslog } from './decode.js';
import { createSyslogDeframer, type SyslogFrame } from './deframe.js';
import { encodeSyslog5424 } from './rfc5424.js';
import { summarizeSyslog } from './summarize.js';

const dir = new URL('./testdata/', import.meta.url);

/** One captured record (see testdata/capture-listener.mjs): a UDP datagram or a whole TCP stream. */
interface Capture {
  file: string;
  kind: 'udp' | 'tcp';
  index: number;
  bytes: Uint8Array;
}

function readCaptures(): Capture[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.hex'))
    .sort();
  return files.flatMap((file) =>
    readFileSync(new URL(file, dir), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((line, index) => {
        const [kind, hex] = line.split(' ');
        assert.ok(kind === 'udp' || kind === 'tcp', `${file}: record kind ${kind}`);
        return { file, kind, index, bytes: Uint8Array.from(Buffer.from(hex, 'hex')) };
      }),
  );
}

/** The messages of one record: a datagram is one; a stream is deframed whole, and again byte by byte. */
function framesOf(c: Capture): SyslogFrame[] {
  if (c.kind === 'udp') return [{ bytes: c.bytes, truncated: false }];
  const whole = createSyslogDeframer();
  const r = whole.push(c.bytes);
  assert.equal(r.error, undefined, `${c.file}#${c.index}`);
  const frames = [...r.frames, ...whole.end()];
  const bytewise = createSyslogDeframer();
  const again: SyslogFrame[] = [];
  for (let i = 0; i < c.bytes.length; i++) again.push(...bytewise.push(c.bytes.subarray(i, i + 1)).frames);
  assert.deepEqual([...again, ...bytewise.end()], frames, `${c.file}#${c.index} byte by byte`);
  return frames;
}

test('golden: every message from real senders decodes and summarizes as recorded, with no defect', () => {
  const lines: string[] = [];
  for (const c of readCaptures()) {
    for (const [n, f] of framesOf(c).entries()) {
      const m = decodeSyslog(f.bytes, { truncated: f.truncated });
      assert.deepEqual(m.defects, [], `${c.file} ${c.kind}#${c.index}.${n}`);
      lines.push(`${c.file} ${c.kind}#${c.index}.${n} ${summarizeSyslog(m)}`);
    }
  }
  assert.equal(lines.length, 39);
  const text = lines.join('\n') + '\n';
  const golden = new URL('senders.golden.txt', dir);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, text);
  assert.equal(text, readFileSync(golden, 'utf8'));
});

test('golden: captured RFC 5424 messages re-encode byte for byte (trailing LF aside) and decode the same', () => {
  let count = 0;
  for (const c of readCaptures()) {
    for (const f of framesOf(c)) {
      const m = decodeSyslog(f.bytes);
      if (m.format !== 'rfc5424') continue;
      const again = encodeSyslog5424(m);
      const wire = new TextDecoder().decode(f.bytes).replace(/\n$/, '');
      assert.equal(new TextDecoder().decode(again), wire, c.file);
      assert.deepEqual({ ...decodeSyslog(again), raw: m.raw }, m, c.file);
      count++;
    }
  }
  assert.equal(count, 12);
});
