/**
 * Magic numbers and sizes of the WalB formats, all in one place.
 * Byte layouts are documented beside each encoder/parser; sizes here are pinned by tests.
 * Units: lb = logical block = 512 bytes; pb = physical block of the log device (pbs bytes).
 */

export const LOGICAL_BLOCK_SIZE = 512;
/** The layout of a log device depends on the page size; WalB on x86_64 uses 4096. */
export const PAGE_SIZE = 4096;

export const WALB_LOG_VERSION = 2;
export const SECTOR_TYPE_SUPER = 0x0001;
export const SECTOR_TYPE_LOGPACK = 0x0003;
export const SECTOR_TYPE_WALBLOG_HEADER = 0x0004;

/** 0xFFFF_FFFF_FFFF_FFFF; as a JS number it reads as Infinity (see binary.ts). */
export const INVALID_LSID = Number.POSITIVE_INFINITY;

export const WALB_MAX_NORMAL_IO_SECTORS = 65535;
export const WALB_MAX_DISCARD_IO_SECTORS = 0xffff_ffff;
export const MAX_TOTAL_IO_SIZE_IN_LOGPACK_HEADER = 65535;

export const UUID_SIZE = 16;
export const DISK_NAME_LEN = 32;
export const WALB_DEV_NAME_MAX_LEN = 25;

// ---- super sector (struct walb_super_sector) ----
export const SUPER_SECTOR_STRUCT_SIZE = 104;
/** The super sector is at byte PAGE_SIZE for every pbs that divides PAGE_SIZE. */
export const SUPER_SECTOR_BYTE_OFFSET = PAGE_SIZE;

// ---- logpack header (struct walb_logpack_header) and log records ----
export const LOGPACK_HEADER_SIZE = 24;
export const LOG_RECORD_SIZE = 32;
export const LOG_RECORD_EXIST = 0x1;
export const LOG_RECORD_PADDING = 0x2;
export const LOG_RECORD_DISCARD = 0x4;

// ---- wlog file ----
export const WALBLOG_HEADER_SIZE = 4096;
export const WALBLOG_HEADER_STRUCT_SIZE = 56;

// ---- wdiff files ----
export const WALB_DIFF_VERSION = 2;
export const WDIFF_FILE_HEADER_SIZE = 32;
export const WDIFF_TYPE_SORTED = 0;
export const WDIFF_TYPE_INDEXED = 1;
export const WDIFF_PACK_SIZE = 4096;
export const WDIFF_PACK_HEADER_SIZE = 16;
export const WDIFF_RECORD_SIZE = 32;
export const WDIFF_MAX_RECORDS_IN_PACK = 127;
export const WDIFF_PACK_MAX_DATA_SIZE = 32 * 1024 * 1024;
export const WDIFF_PACK_FLAG_END = 0x1;
export const WDIFF_END_PACK_CHECKSUM = 0xffff0000;

export const WDIFF_INDEXED_RECORD_SIZE = 48;
export const WDIFF_INDEX_SUPER_SIZE = 24;

/** wdiff record flags; a record is "normal" when neither ALLZERO nor DISCARD is set. */
export const WDIFF_FLAG_EXIST = 0x1;
export const WDIFF_FLAG_ALLZERO = 0x2;
export const WDIFF_FLAG_DISCARD = 0x4;

/** Default largest wdiff record (and indexed extent): 2048 lb = 1 MiB. */
export const DEFAULT_MAX_IO_LB = 2048;

/** Compression ids stored in wdiff records. */
export enum CompressionType {
  None = 0,
  Gzip = 1, // a zlib (RFC 1950) stream, despite the name
  Snappy = 2, // raw snappy block
  Lzma = 3, // .xz container
  Lz4 = 4, // raw LZ4 block
  Zstd = 5, // zstd frame
}
export const COMPRESSION_TYPE_COUNT = 6;

/** Largest records per logpack header for a pbs: floor((pbs - 24) / 32). */
export function maxRecordsInLogpack(pbs: number): number {
  return Math.floor((pbs - LOGPACK_HEADER_SIZE) / LOG_RECORD_SIZE);
}

/** True for a physical block size WalB accepts here: a multiple of 512 dividing PAGE_SIZE. */
export function isValidPbs(pbs: number): boolean {
  return Number.isInteger(pbs) && pbs >= 512 && pbs % 512 === 0 && PAGE_SIZE % pbs === 0;
}

/** capacity_pb(pbs, n_lb) = ceil(n_lb / (pbs / 512)). */
export function capacityPb(pbs: number, nLb: number): number {
  const lbPerPb = pbs / LOGICAL_BLOCK_SIZE;
  return Math.ceil(nLb / lbPerPb);
}

/** capacity_lb(pbs, n_pb) = n_pb * (pbs / 512). */
export function capacityLb(pbs: number, nPb: number): number {
  return nPb * (pbs / LOGICAL_BLOCK_SIZE);
}
