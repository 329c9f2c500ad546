import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeTftp, encodeTftp } from './packet.js';
import { summarizeTftp } from './summarize.js';
import { readPcapUdp } from '../pcap/reader.js';

const dir = new URL('./testdata/', import.meta.url);

test('golden: every packet of a real client/server capture decodes and summarizes as recorded', () => {
  const datagrams = readPcapUdp(new Uint8Array(readFileSync(new URL('tftp-clients.pcap', dir))));
  assert.equal(datagrams.length, 59);
  const lines = datagrams.map(
    (d) =>
      `${String(d.index).padStart(3)} ${d.src}:${d.srcPort} > ${d.dst}:${d.dstPort} ${summarizeTftp(decodeTftp(d.payload))}`,
  );
  const text = lines.join('\n') + '\n';
  const golden = new URL('tftp-clients.golden.txt', dir);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, text);
  assert.equal(text, readFileSync(golden, 'utf8'));
});

test('golden: captured packets round-trip byte for byte and value for value', () => {
  for (const d of readPcapUdp(new Uint8Array(readFileSync(new URL('tftp-clients.pcap', dir))))) {
    const p = decodeTftp(d.payload);
    const again = encodeTftp(p);
    assert.deepEqual(again, Uint8Array.from(d.payload), `packet ${d.index}`);
    assert.deepEqual(decodeTftp(again), p, `packet ${d.index}`);
  }
});
