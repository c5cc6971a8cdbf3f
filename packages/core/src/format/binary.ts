/**
 * Little-endian integer access for the WalB structures.
 *
 * u64 fields are JS numbers. Values up to 2^53 - 1 are exact. The all-ones value
 * (0xFFFF_FFFF_FFFF_FFFF, INVALID_LSID and the wlog end marker) reads as Infinity; any other
 * value above 2^53 - 1 reads as NaN so that the caller can reject it with a located error
 * (readU64Strict does). Writing Infinity stores all ones.
 */

const TWO_32 = 0x1_0000_0000;

export function readU16(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}

export function readU32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

export function readU64(b: Uint8Array, off: number): number {
  const lo = readU32(b, off);
  const hi = readU32(b, off + 4);
  if (hi < 0x20_0000) return hi * TWO_32 + lo;
  if (hi === 0xffff_ffff && lo === 0xffff_ffff) return Number.POSITIVE_INFINITY;
  return Number.NaN;
}

/** Like readU64 but also true for the raw all-ones pattern only. */
export function isU64AllOnes(b: Uint8Array, off: number): boolean {
  return readU32(b, off) === 0xffff_ffff && readU32(b, off + 4) === 0xffff_ffff;
}

/** The raw value as a bigint (for display and exact round trips of odd values). */
export function readU64Big(b: Uint8Array, off: number): bigint {
  return (BigInt(readU32(b, off + 4)) << 32n) | BigInt(readU32(b, off));
}

export function writeU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

export function writeU64(b: Uint8Array, off: number, v: number): void {
  if (v === Number.POSITIVE_INFINITY) {
    writeU32(b, off, 0xffff_ffff);
    writeU32(b, off + 4, 0xffff_ffff);
    return;
  }
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`u64 value out of range: ${v}`);
  writeU32(b, off, v % TWO_32);
  writeU32(b, off + 4, Math.floor(v / TWO_32));
}

export function writeU64Big(b: Uint8Array, off: number, v: bigint): void {
  writeU32(b, off, Number(v & 0xffff_ffffn));
  writeU32(b, off + 4, Number((v >> 32n) & 0xffff_ffffn));
}

/** 16 raw bytes as 32 lower-case hex digits (walb-tools style). */
export function uuidToHex(u: Uint8Array): string {
  return Buffer.from(u.buffer, u.byteOffset, u.length).toString('hex');
}

export function uuidFromHex(s: string): Uint8Array {
  const clean = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(clean)) throw new RangeError(`not a 16-byte hex uuid: ${s}`);
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

/**
 * A copy of b[start, end) as a plain Uint8Array. (Buffer#slice returns a view, not a copy, so
 * `buf.slice()` must never be used to keep bytes out of a reused buffer.)
 */
export function copyBytes(b: Uint8Array, start: number, end: number): Uint8Array {
  return Uint8Array.prototype.slice.call(b, start, end);
}
