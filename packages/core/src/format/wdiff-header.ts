/**
 * The fixed-size structures of the wdiff formats (walb-formats §6.1, §6.3).
 *
 * File header (`struct walb_diff_file_header`, 32 bytes at offset 0, self-checksummed, salt 0):
 *    0 u32 checksum   4 u16 version (2)   6 u8 type (0 sorted, 1 indexed)   7 u8 reserved1
 *    8 u32 reserved2  12 u32 reserved3   16 u8[16] uuid (all zero in files from wdiff-merge)
 * Readers check the checksum, the version and the type; bytes 7..15 are ignored, as walb-tools
 * does (older v2 files kept max_io_blocks there).
 *
 * Index super of the indexed layout (`struct walb_diff_index_super`, the last 24 bytes of the
 * file, self-checksummed, salt 0):
 *    0 u64 index_offset (absolute)   8 u32 n_records   12 u32 n_data (records handed to the
 *    writer, not images)   16 u32 reserved1   20 u32 checksum
 * Layout identity: index_offset + 48 * n_records + 24 == file size.
 */
import { ChecksumMismatchError, FormatError, UnexpectedEofError, UnsupportedError, type ErrorWhere } from '../errors.js';
import { copyBytes, readU16, readU32, readU64, writeU16, writeU32, writeU64 } from './binary.js';
import { sealBlock, walbChecksum } from './checksum.js';
import {
  UUID_SIZE,
  WALB_DIFF_VERSION,
  WDIFF_FILE_HEADER_SIZE,
  WDIFF_INDEX_SUPER_SIZE,
  WDIFF_TYPE_INDEXED,
  WDIFF_TYPE_SORTED,
} from './constants.js';

/** 0 = sorted (packs), 1 = indexed (images + index). */
export type WdiffType = typeof WDIFF_TYPE_SORTED | typeof WDIFF_TYPE_INDEXED;

export interface WdiffHeader {
  /** The stored checksum (wdiff-show prints it). */
  checksum: number;
  version: number;
  type: WdiffType;
  uuid: Uint8Array;
}

export function wdiffTypeName(type: WdiffType): 'sorted' | 'indexed' {
  return type === WDIFF_TYPE_SORTED ? 'sorted' : 'indexed';
}

/** Parses and verifies the 32-byte file header at the start of `buf`. */
export function parseWdiffHeader(buf: Uint8Array, where: ErrorWhere = {}): WdiffHeader {
  const at = { ...where, offset: 0 };
  if (buf.length < WDIFF_FILE_HEADER_SIZE) {
    throw new UnexpectedEofError(`end of input inside the wdiff file header (${buf.length} of ${WDIFF_FILE_HEADER_SIZE} bytes)`, at);
  }
  const h = buf.subarray(0, WDIFF_FILE_HEADER_SIZE);
  const checksum = readU32(h, 0);
  if (walbChecksum(h, 0) !== 0) {
    throw new ChecksumMismatchError(`wdiff file header checksum mismatch (stored 0x${u32Hex(checksum)})`, at);
  }
  const version = readU16(h, 4);
  if (version !== WALB_DIFF_VERSION) {
    throw new UnsupportedError(`wdiff file header: version ${version}, only ${WALB_DIFF_VERSION} is supported`, at);
  }
  const type = h[6]!;
  if (type !== WDIFF_TYPE_SORTED && type !== WDIFF_TYPE_INDEXED) {
    throw new FormatError(`wdiff file header: unknown type ${type} (0 = sorted, 1 = indexed)`, at);
  }
  return { checksum, version, type, uuid: copyBytes(h, 16, 16 + UUID_SIZE) };
}

/** Encodes a file header (reserved fields zero); uuid defaults to all zero. */
export function encodeWdiffHeader(type: WdiffType, uuid?: Uint8Array): Uint8Array {
  const b = new Uint8Array(WDIFF_FILE_HEADER_SIZE);
  writeU16(b, 4, WALB_DIFF_VERSION);
  b[6] = type;
  if (uuid !== undefined) {
    if (uuid.length !== UUID_SIZE) throw new RangeError(`uuid must be ${UUID_SIZE} bytes, got ${uuid.length}`);
    b.set(uuid, 16);
  }
  sealBlock(b, 0, 0);
  return b;
}

export interface WdiffIndexSuper {
  indexOffset: number;
  nRecords: number;
  nData: number;
}

/** Parses and verifies the 24-byte index super (pass exactly the last 24 bytes of the file). */
export function parseIndexSuper(buf: Uint8Array, where: ErrorWhere = {}): WdiffIndexSuper {
  if (buf.length < WDIFF_INDEX_SUPER_SIZE) {
    throw new UnexpectedEofError(`index super: only ${buf.length} of ${WDIFF_INDEX_SUPER_SIZE} bytes`, where);
  }
  const s = buf.subarray(0, WDIFF_INDEX_SUPER_SIZE);
  if (walbChecksum(s, 0) !== 0) {
    throw new ChecksumMismatchError(`index super checksum mismatch (stored 0x${u32Hex(readU32(s, 20))}); the file is truncated or damaged`, where);
  }
  const indexOffset = readU64(s, 0);
  if (!Number.isSafeInteger(indexOffset)) throw new FormatError('index super: index_offset beyond 2^53', where);
  return { indexOffset, nRecords: readU32(s, 8), nData: readU32(s, 12) };
}

/** Encodes the 24-byte index super into `dst` (zeroed first). */
export function encodeIndexSuper(s: WdiffIndexSuper, dst: Uint8Array = new Uint8Array(WDIFF_INDEX_SUPER_SIZE)): Uint8Array {
  if (dst.length < WDIFF_INDEX_SUPER_SIZE) throw new RangeError('index super needs 24 bytes');
  const b = dst.subarray(0, WDIFF_INDEX_SUPER_SIZE);
  b.fill(0);
  writeU64(b, 0, s.indexOffset);
  writeU32(b, 8, s.nRecords);
  writeU32(b, 12, s.nData);
  sealBlock(b, 20, 0);
  return b;
}

export function u32Hex(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}
