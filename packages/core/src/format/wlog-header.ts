/**
 * The wlog file header (walb-formats §5): a 4096-byte block, self-checksummed (salt 0).
 *   0 u16 sector_type (4)   2 u16 version (2)   4 u16 header_size (4096)   6 u16 reserved
 *   8 u32 checksum   12 u32 log_checksum_salt   16 u32 logical_bs (512)   20 u32 physical_bs
 *  24 u8[16] uuid   40 u64 begin_lsid   48 u64 end_lsid (requested end; often all ones)
 */
import { ChecksumMismatchError, FormatError, UnsupportedError, type ErrorWhere } from '../errors.js';
import { copyBytes, readU16, readU32, readU64, writeU16, writeU32, writeU64 } from './binary.js';
import { sealBlock, walbChecksum } from './checksum.js';
import { LOGICAL_BLOCK_SIZE, SECTOR_TYPE_WALBLOG_HEADER, UUID_SIZE, WALBLOG_HEADER_SIZE, WALB_LOG_VERSION, isValidPbs } from './constants.js';

export interface WlogHeader {
  salt: number;
  pbs: number;
  uuid: Uint8Array;
  beginLsid: number;
  /** Requested end; Infinity when all ones (the usual value). Not the real end of the log. */
  endLsid: number;
}

export function parseWlogHeader(block: Uint8Array, where: ErrorWhere = {}): WlogHeader {
  if (block.length < WALBLOG_HEADER_SIZE) throw new FormatError(`wlog header: only ${block.length} of ${WALBLOG_HEADER_SIZE} bytes`, where);
  const sectorType = readU16(block, 0);
  if (sectorType !== SECTOR_TYPE_WALBLOG_HEADER) throw new FormatError(`wlog header: sector type ${sectorType}, expected ${SECTOR_TYPE_WALBLOG_HEADER} (not a wlog file?)`, where);
  const version = readU16(block, 2);
  if (version !== WALB_LOG_VERSION) throw new FormatError(`wlog header: version ${version}, expected ${WALB_LOG_VERSION}`, where);
  const headerSize = readU16(block, 4);
  if (headerSize !== WALBLOG_HEADER_SIZE) throw new FormatError(`wlog header: header size ${headerSize}, expected ${WALBLOG_HEADER_SIZE}`, where);
  if (walbChecksum(block.subarray(0, WALBLOG_HEADER_SIZE), 0) !== 0) {
    throw new ChecksumMismatchError(`wlog file header checksum mismatch (stored 0x${readU32(block, 8).toString(16).padStart(8, '0')})`, where);
  }
  const logicalBs = readU32(block, 16);
  if (logicalBs !== LOGICAL_BLOCK_SIZE) throw new FormatError(`wlog header: logical block size ${logicalBs}, expected 512`, where);
  const pbs = readU32(block, 20);
  if (!isValidPbs(pbs)) throw new FormatError(`wlog header: invalid physical block size ${pbs}`, where);
  const beginLsid = readU64(block, 40);
  const endLsid = readU64(block, 48);
  if (!Number.isFinite(beginLsid)) throw new UnsupportedError('wlog header: begin lsid beyond 2^53', where);
  const end = Number.isNaN(endLsid) ? Number.POSITIVE_INFINITY : endLsid; // huge requested ends mean "no limit"
  if (!(beginLsid < end)) throw new FormatError(`wlog header: begin lsid ${beginLsid} is not below end lsid ${end}`, where);
  return { salt: readU32(block, 12), pbs, uuid: copyBytes(block, 24, 24 + UUID_SIZE), beginLsid, endLsid: end };
}

export function encodeWlogHeader(h: WlogHeader): Uint8Array {
  const b = new Uint8Array(WALBLOG_HEADER_SIZE);
  writeU16(b, 0, SECTOR_TYPE_WALBLOG_HEADER);
  writeU16(b, 2, WALB_LOG_VERSION);
  writeU16(b, 4, WALBLOG_HEADER_SIZE);
  writeU32(b, 12, h.salt);
  writeU32(b, 16, LOGICAL_BLOCK_SIZE);
  writeU32(b, 20, h.pbs);
  if (h.uuid.length !== UUID_SIZE) throw new RangeError('uuid must be 16 bytes');
  b.set(h.uuid, 24);
  writeU64(b, 40, h.beginLsid);
  writeU64(b, 48, h.endLsid);
  sealBlock(b, 8, 0);
  return b;
}
