/**
 * The pack header block of the sorted wdiff layout (walb-formats §6.2).
 *
 * A pack is a 4096-byte header block followed by `total_size` bytes of record data. The block
 * holds `struct walb_diff_pack` (16 bytes) and up to 127 sorted records (32 bytes each, see
 * wdiff-record.ts); the rest is zero. The whole block is self-checksummed (salt 0):
 *    0 u32 checksum   4 u16 n_records (<= 127)   6 u8 flags (bit0 END)   7 u8 reserved0
 *    8 u32 total_size (data bytes after the block)   12 u32 reserved1   16 records[n_records]
 * The END pack is all zero except flags = 1 (checksum 0xFFFF0000).
 */
import { ChecksumMismatchError, FormatError, type ErrorWhere } from '../errors.js';
import { readU16, readU32, writeU16, writeU32 } from './binary.js';
import { sealBlock, walbChecksum } from './checksum.js';
import { WDIFF_MAX_RECORDS_IN_PACK, WDIFF_PACK_FLAG_END, WDIFF_PACK_HEADER_SIZE, WDIFF_PACK_SIZE, WDIFF_RECORD_SIZE } from './constants.js';
import { u32Hex } from './wdiff-header.js';

export interface SortedPackHeader {
  nRecords: number;
  isEnd: boolean;
  totalSize: number;
}

/** Byte offset of record `i` inside the pack block. */
export function packRecordOffset(i: number): number {
  return WDIFF_PACK_HEADER_SIZE + WDIFF_RECORD_SIZE * i;
}

/** Verifies the checksum and n_records of a 4096-byte pack block and returns its header fields. */
export function parseSortedPackHeader(block: Uint8Array, where: ErrorWhere = {}): SortedPackHeader {
  if (block.length !== WDIFF_PACK_SIZE) throw new RangeError(`a pack block is ${WDIFF_PACK_SIZE} bytes, got ${block.length}`);
  if (walbChecksum(block, 0) !== 0) {
    throw new ChecksumMismatchError(`pack header checksum mismatch (stored 0x${u32Hex(readU32(block, 0))})`, where);
  }
  const nRecords = readU16(block, 4);
  const isEnd = (block[6]! & WDIFF_PACK_FLAG_END) !== 0;
  const totalSize = readU32(block, 8);
  if (nRecords > WDIFF_MAX_RECORDS_IN_PACK) {
    throw new FormatError(`pack header: ${nRecords} records, at most ${WDIFF_MAX_RECORDS_IN_PACK} fit`, where);
  }
  if (isEnd && (nRecords !== 0 || totalSize !== 0)) {
    throw new FormatError(`END pack with ${nRecords} records and ${totalSize} data bytes (both must be 0)`, where);
  }
  return { nRecords, isEnd, totalSize };
}

/** Writes n_records and total_size into a block whose records are already encoded, then seals it. */
export function sealSortedPack(block: Uint8Array, nRecords: number, totalSize: number): void {
  writeU16(block, 4, nRecords);
  block[6] = 0;
  block[7] = 0;
  writeU32(block, 8, totalSize);
  writeU32(block, 12, 0);
  sealBlock(block, 0, 0);
}

/** The END pack (4096 bytes). */
export function encodeEndPack(dst: Uint8Array = new Uint8Array(WDIFF_PACK_SIZE)): Uint8Array {
  const b = dst.subarray(0, WDIFF_PACK_SIZE);
  b.fill(0);
  b[6] = WDIFF_PACK_FLAG_END;
  sealBlock(b, 0, 0);
  return b;
}
