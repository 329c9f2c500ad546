/**
 * Zero-filled byte views carved one after another out of large blocks, for
 * datagrams sent at a high rate (DHCP replies): one block allocation per many
 * datagrams instead of one backing store each. A region is never handed out
 * twice (a full block is left to the views still holding it and a new one is
 * started), so a datagram queued in the kernel or libuv keeps its bytes.
 */
export function createByteSlab(blockBytes = 64 * 1024): (size: number) => Uint8Array {
  let block = new Uint8Array(blockBytes);
  let used = 0;
  return (size) => {
    if (size > blockBytes) return new Uint8Array(size);
    if (used + size > blockBytes) {
      block = new Uint8Array(blockBytes);
      used = 0;
    }
    const out = block.subarray(used, used + size);
    used += size;
    return out;
  };
}
