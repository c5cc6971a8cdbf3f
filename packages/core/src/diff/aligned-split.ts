/**
 * Splitting a block range into aligned power-of-two extents, as indexed wdiffs require
 * (walb-formats §6.3): each piece has a power-of-two size s and an address divisible by s,
 * at most the largest power of two ≤ maxIoBlocks (0 = no limit; pieces never exceed 2^31).
 */
const TWO_32 = 0x1_0000_0000;
const MAX_PIECE = 0x8000_0000;

/** Largest power of two ≤ n (n ≥ 1). */
export function floorPow2(n: number): number {
  if (n >= MAX_PIECE) return MAX_PIECE;
  return (1 << (31 - Math.clz32(n))) >>> 0;
}

/** Largest power of two dividing address, capped at 2^31 (2^31 for address 0). */
export function alignmentOf(address: number): number {
  const low = address % TWO_32;
  if (low === 0) return MAX_PIECE;
  const bit = (low & -low) >>> 0;
  return bit === 0 ? MAX_PIECE : Math.min(bit, MAX_PIECE);
}

/** Calls piece(address, blocks, offset) for each aligned piece of [address, address + blocks). */
export function splitAligned(address: number, blocks: number, maxIoBlocks: number, piece: (address: number, blocks: number, offset: number) => void): void {
  const cap = maxIoBlocks > 0 ? floorPow2(maxIoBlocks) : MAX_PIECE;
  let off = 0;
  while (off < blocks) {
    const a = address + off;
    let s = alignmentOf(a);
    const left = blocks - off;
    if (s > left) s = floorPow2(left);
    if (s > cap) s = cap;
    piece(a, s, off);
    off += s;
  }
}
