import type { Readable } from 'node:stream';

/**
 * Reads a peer's reply body as UTF-8, keeping at most `maxBytes` and
 * dropping the rest (the stream is destroyed, so a BMC or webhook receiver
 * that streams forever costs at most `maxBytes` of memory). `truncated`
 * tells whether anything was dropped.
 */
export async function readCapped(body: Readable, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    if (n + b.length > maxBytes) {
      chunks.push(b.subarray(0, maxBytes - n));
      body.destroy();
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(b);
    n += b.length;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}
