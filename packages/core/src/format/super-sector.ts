/**
 * The log device super sector and layout (walb-formats §2).
 *
 * struct walb_super_sector (104 bytes at the start of a pbs-sized block, at byte PAGE_SIZE):
 *   0 u16 sector_type (1)    2 u16 version (2)        4 u32 checksum (whole pbs block, salt 0)
 *   8 u32 logical_bs (512)  12 u32 physical_bs       16 u32 metadata_size (pb, 0)
 *  20 u32 log_checksum_salt 24 u8[16] uuid           40 char[32] name (NUL-terminated)
 *  72 u64 ring_buffer_size  80 u64 oldest_lsid       88 u64 written_lsid   96 u64 device_size (lb)
 * Layout in pb: reserved PAGE_SIZE bytes, super 0, metadata (metadata_size pb), super 1, ring buffer.
 */
import { FormatError, ChecksumMismatchError, UnsupportedError, type ErrorWhere } from '../errors.js';
import { copyBytes, readU16, readU32, readU64, writeU16, writeU32, writeU64 } from './binary.js';
import { walbChecksum, sealBlock } from './checksum.js';
import {
  DISK_NAME_LEN,
  LOGICAL_BLOCK_SIZE,
  PAGE_SIZE,
  SECTOR_TYPE_SUPER,
  SUPER_SECTOR_BYTE_OFFSET,
  UUID_SIZE,
  WALB_LOG_VERSION,
  isValidPbs,
} from './constants.js';

export interface SuperSector {
  pbs: number;
  metadataSize: number;
  salt: number;
  uuid: Uint8Array;
  name: string;
  /** Ring buffer size in pb. */
  ringBufferSize: number;
  oldestLsid: number;
  writtenLsid: number;
  /** Size of the WAL device in lb. */
  deviceSize: number;
}

export interface LogDeviceLayout {
  pbs: number;
  /** pb index of super sector 0. */
  superPb: number;
  /** pb index of the first ring buffer block. */
  ringOffsetPb: number;
  ringBufferSize: number;
}

export function logDeviceLayout(pbs: number, ringBufferSize: number, metadataSize = 0): LogDeviceLayout {
  const superPb = PAGE_SIZE / pbs;
  return { pbs, superPb, ringOffsetPb: superPb + 1 + metadataSize + 1, ringBufferSize };
}

/** Ring size for a log device of `ldevBytes` bytes: floor(bytes/pbs) - (PAGE_SIZE/pbs + 2). */
export function ringBufferSizeFor(ldevBytes: number, pbs: number): number {
  return Math.floor(ldevBytes / pbs) - (PAGE_SIZE / pbs + 2);
}

/** pb index on the log device of the block with a given lsid. */
export function lsidToPb(layout: LogDeviceLayout, lsid: number): number {
  return layout.ringOffsetPb + (lsid % layout.ringBufferSize);
}

/**
 * Parses and validates a super sector block (exactly pbs bytes). The pbs is taken from the
 * block itself (offset 12) when `pbs` is not given; the checksum is verified over pbs bytes
 * (stricter than walb-tools, which skips it; the kernel checks it).
 */
export function parseSuperSector(block: Uint8Array, where: ErrorWhere = {}): SuperSector {
  const at: ErrorWhere = { offset: SUPER_SECTOR_BYTE_OFFSET, ...where };
  if (block.length < 512) throw new FormatError('super sector: block shorter than 512 bytes', at);
  const pbs = readU32(block, 12);
  if (!isValidPbs(pbs)) throw new FormatError(`super sector: invalid physical block size ${pbs}`, at);
  if (block.length < pbs) throw new FormatError(`super sector: block shorter than pbs ${pbs}`, at);
  const sectorType = readU16(block, 0);
  if (sectorType !== SECTOR_TYPE_SUPER) throw new FormatError(`super sector: sector type ${sectorType}, expected ${SECTOR_TYPE_SUPER}`, at);
  const version = readU16(block, 2);
  if (version !== WALB_LOG_VERSION) throw new FormatError(`super sector: version ${version}, expected ${WALB_LOG_VERSION}`, at);
  const sum = walbChecksum(block.subarray(0, pbs), 0);
  if (sum !== 0) throw new ChecksumMismatchError(`super sector checksum mismatch (stored 0x${readU32(block, 4).toString(16)})`, at);
  const logicalBs = readU32(block, 8);
  if (logicalBs !== LOGICAL_BLOCK_SIZE) throw new FormatError(`super sector: logical block size ${logicalBs}, expected 512`, at);
  const nameBytes = block.subarray(40, 40 + DISK_NAME_LEN);
  const nul = nameBytes.indexOf(0);
  if (nul < 0) throw new FormatError('super sector: device name is not NUL-terminated', at);
  const s: SuperSector = {
    pbs,
    metadataSize: readU32(block, 16),
    salt: readU32(block, 20),
    uuid: copyBytes(block, 24, 24 + UUID_SIZE),
    name: Buffer.from(nameBytes.subarray(0, nul)).toString('latin1'),
    ringBufferSize: readU64(block, 72),
    oldestLsid: readU64(block, 80),
    writtenLsid: readU64(block, 88),
    deviceSize: readU64(block, 96),
  };
  for (const k of ['ringBufferSize', 'oldestLsid', 'writtenLsid', 'deviceSize'] as const) {
    if (!Number.isFinite(s[k])) throw new UnsupportedError(`super sector: ${k} is beyond 2^53 or invalid`, at);
  }
  if (s.ringBufferSize <= 0) throw new FormatError('super sector: ring buffer size is 0', at);
  if (s.oldestLsid > s.writtenLsid) throw new FormatError(`super sector: oldest lsid ${s.oldestLsid} > written lsid ${s.writtenLsid}`, at);
  return s;
}

/** Encodes a super sector into a zeroed pbs block with its checksum. */
export function encodeSuperSector(s: SuperSector): Uint8Array {
  if (!isValidPbs(s.pbs)) throw new RangeError(`invalid pbs ${s.pbs}`);
  const b = new Uint8Array(s.pbs);
  writeU16(b, 0, SECTOR_TYPE_SUPER);
  writeU16(b, 2, WALB_LOG_VERSION);
  writeU32(b, 8, LOGICAL_BLOCK_SIZE);
  writeU32(b, 12, s.pbs);
  writeU32(b, 16, s.metadataSize);
  writeU32(b, 20, s.salt);
  if (s.uuid.length !== UUID_SIZE) throw new RangeError('uuid must be 16 bytes');
  b.set(s.uuid, 24);
  const name = Buffer.from(s.name, 'latin1');
  if (name.length >= DISK_NAME_LEN) throw new RangeError(`device name longer than ${DISK_NAME_LEN - 1} bytes`);
  b.set(name, 40);
  writeU64(b, 72, s.ringBufferSize);
  writeU64(b, 80, s.oldestLsid);
  writeU64(b, 88, s.writtenLsid);
  writeU64(b, 96, s.deviceSize);
  sealBlock(b, 4, 0);
  return b;
}
