/**
 * wdiff records, shared by both layouts (walb-formats §6.1-§6.3).
 *
 * Flags (u8): bit0 EXIST (never set by walb-tools, ignored here), bit1 ALLZERO, bit2 DISCARD.
 * Normal = neither ALLZERO nor DISCARD; both together is invalid. The other bits are ignored on
 * read: `wdiff-full` leaves stack garbage in them (0xa1, 0xb9 in the vectors). Writers store 0,
 * 0x02 or 0x04 only.
 *
 * Sorted record (`struct walb_diff_record`, 32 bytes, inside a pack header block):
 *    0 u64 io_address (lb)   8 u32 io_blocks (lb)   12 u8 flags   13 u8 compression_type
 *   14 u16 reserved1   16 u32 data_offset (from the end of the pack block; running sum)
 *   20 u32 data_size (stored bytes)   24 u32 checksum (of the stored bytes, salt 0)
 *   28 u32 reserved2
 *
 * Indexed record (`struct walb_indexed_diff_record`, 48 bytes, self-checksummed, salt 0):
 *    0 u64 io_address   8 u32 io_blocks   12 u8 flags   13 u8 compression_type
 *   14 u16 reserved1   16 u64 data_offset (absolute offset of the image)   24 u32 data_size
 *   28 u32 io_offset (lb inside the decompressed image)   32 u32 orig_blocks (image size, lb)
 *   36 u32 reserved2   40 u32 io_checksum (of the stored image)   44 u32 rec_checksum
 */
import { readU32, readU64, writeU32, writeU64 } from './binary.js';
import { sealBlock } from './checksum.js';
import { CompressionType, WDIFF_FLAG_ALLZERO, WDIFF_FLAG_DISCARD, WDIFF_INDEXED_RECORD_SIZE } from './constants.js';

export const enum DiffKind {
  Normal = 0,
  AllZero = 1,
  Discard = 2,
}

/**
 * One record as both layouts describe it. For sorted files `dataSize`/`checksum` are those of the
 * record's own stored bytes; for indexed files those of the (possibly shared) image.
 */
export interface DiffRecord {
  address: number;
  blocks: number;
  kind: DiffKind;
  compression: CompressionType;
  dataSize: number;
  checksum: number;
}

/** An indexed record: a slice [ioOffset, ioOffset + blocks) of an image of origBlocks lb. */
export interface IndexedDiffRecord extends DiffRecord {
  dataOffset: number;
  ioOffset: number;
  origBlocks: number;
}

export function diffKindName(kind: DiffKind): 'normal' | 'allzero' | 'discard' {
  return kind === DiffKind.Normal ? 'normal' : kind === DiffKind.AllZero ? 'allzero' : 'discard';
}

/** The kind encoded by record flags, or -1 when ALLZERO and DISCARD are both set. */
export function kindOfFlags(flags: number): DiffKind | -1 {
  const az = flags & WDIFF_FLAG_ALLZERO;
  const dc = flags & WDIFF_FLAG_DISCARD;
  if (az !== 0) return dc !== 0 ? -1 : DiffKind.AllZero;
  return dc !== 0 ? DiffKind.Discard : DiffKind.Normal;
}

/** Flags a writer stores for a kind (EXIST is never set). */
export function flagsOfKind(kind: DiffKind): number {
  return kind === DiffKind.Normal ? 0 : kind === DiffKind.AllZero ? WDIFF_FLAG_ALLZERO : WDIFF_FLAG_DISCARD;
}

/** Sorted record fields plus its running data offset inside the pack. */
export interface SortedRecordFields extends DiffRecord {
  dataOffset: number;
}

/**
 * Decodes the 32-byte sorted record at `off` into `into` and returns its raw flags. `kind` is
 * meaningless when kindOfFlags(flags) is -1; `address` is NaN beyond 2^53 (callers reject both).
 */
export function decodeSortedRecord(b: Uint8Array, off: number, into: SortedRecordFields): number {
  const flags = b[off + 12]!;
  into.address = readU64(b, off);
  into.blocks = readU32(b, off + 8);
  into.kind = kindOfFlags(flags) as DiffKind;
  into.compression = b[off + 13]!;
  into.dataOffset = readU32(b, off + 16);
  into.dataSize = readU32(b, off + 20);
  into.checksum = readU32(b, off + 24);
  return flags;
}

/** Encodes a sorted record at `off` (the 32 bytes must be zero: reserved fields are not written). */
export function encodeSortedRecord(b: Uint8Array, off: number, r: DiffRecord, dataOffset: number): void {
  writeU64(b, off, r.address);
  writeU32(b, off + 8, r.blocks);
  b[off + 12] = flagsOfKind(r.kind);
  b[off + 13] = r.kind === DiffKind.Normal ? r.compression : 0;
  writeU32(b, off + 16, dataOffset);
  writeU32(b, off + 20, r.kind === DiffKind.Normal ? r.dataSize : 0);
  writeU32(b, off + 24, r.kind === DiffKind.Normal ? r.checksum : 0);
}

/** Decodes the 48-byte indexed record at `off` into `into`; returns the raw flags (see decodeSortedRecord). */
export function decodeIndexedRecord(b: Uint8Array, off: number, into: IndexedDiffRecord): number {
  const flags = b[off + 12]!;
  into.address = readU64(b, off);
  into.blocks = readU32(b, off + 8);
  into.kind = kindOfFlags(flags) as DiffKind;
  into.compression = b[off + 13]!;
  into.dataOffset = readU64(b, off + 16);
  into.dataSize = readU32(b, off + 24);
  into.ioOffset = readU32(b, off + 28);
  into.origBlocks = readU32(b, off + 32);
  into.checksum = readU32(b, off + 40);
  return flags;
}

/** Encodes an indexed record into the 48 zero bytes at `b[off..]` and seals its rec_checksum. */
export function encodeIndexedRecord(b: Uint8Array, off: number, r: IndexedDiffRecord): void {
  const normal = r.kind === DiffKind.Normal;
  writeU64(b, off, r.address);
  writeU32(b, off + 8, r.blocks);
  b[off + 12] = flagsOfKind(r.kind);
  b[off + 13] = normal ? r.compression : 0;
  writeU64(b, off + 16, r.dataOffset);
  writeU32(b, off + 24, normal ? r.dataSize : 0);
  writeU32(b, off + 28, r.ioOffset);
  writeU32(b, off + 32, normal ? r.origBlocks : 0);
  writeU32(b, off + 40, normal ? r.checksum : 0);
  sealBlock(b.subarray(off, off + WDIFF_INDEXED_RECORD_SIZE), 44, 0);
}
