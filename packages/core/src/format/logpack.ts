/**
 * Logpack headers and log records (walb-formats §3).
 *
 * struct walb_logpack_header (24 bytes at the start of a pbs block, self-checksummed over the
 * whole block with the device salt when n_records > 0):
 *   0 u32 checksum   4 u16 sector_type (3)   6 u16 total_io_size (pb of data, discards excluded)
 *   8 u64 logpack_lsid   16 u16 n_records   18 u16 n_padding   20 u32 reserved   24 record[n]
 * struct walb_log_record (32 bytes):
 *   0 u32 checksum (of the IO data, device salt; 0 for discard/padding)   4 u32 flags
 *   8 u64 offset (lb)   16 u32 io_size (lb)   20 u16 lsid_local   22 u16 reserved   24 u64 lsid
 * Data of the non-discard records follows the header, capacity_pb(io_size) pb each, in record order.
 */
import { readU16, readU32, readU64, isU64AllOnes, writeU16, writeU32, writeU64 } from './binary.js';
import { walbChecksum, sealBlock } from './checksum.js';
import {
  LOG_RECORD_DISCARD,
  LOG_RECORD_EXIST,
  LOG_RECORD_PADDING,
  LOG_RECORD_SIZE,
  LOGPACK_HEADER_SIZE,
  LOGICAL_BLOCK_SIZE,
  MAX_TOTAL_IO_SIZE_IN_LOGPACK_HEADER,
  SECTOR_TYPE_LOGPACK,
  WALB_MAX_DISCARD_IO_SECTORS,
  WALB_MAX_NORMAL_IO_SECTORS,
  capacityPb,
  maxRecordsInLogpack,
} from './constants.js';

export const enum LogRecordKind {
  Normal = 0,
  Discard = 1,
  Padding = 2,
}

export interface LogRecord {
  kind: LogRecordKind;
  checksum: number;
  flags: number;
  /** IO address on the WAL device, lb. */
  offset: number;
  /** IO size, lb. */
  ioSize: number;
  lsidLocal: number;
  lsid: number;
}

export interface LogpackHeader {
  pbs: number;
  salt: number;
  checksum: number;
  /** pb of data after the header (discards excluded, padding included). */
  totalIoSize: number;
  logpackLsid: number;
  nPadding: number;
  records: LogRecord[];
}

/** lsid of the logpack that follows this one. */
export function nextLogpackLsid(h: LogpackHeader): number {
  return h.logpackLsid + 1 + h.totalIoSize;
}

/** pb occupied by a record's data (0 for discards). */
export function recordDataPb(pbs: number, r: LogRecord): number {
  return r.kind === LogRecordKind.Discard ? 0 : capacityPb(pbs, r.ioSize);
}

/** True for the wlog end marker: n_records 0 and logpack_lsid all ones (checksum is not needed). */
export function isEndMarker(block: Uint8Array): boolean {
  return readU16(block, 4) === SECTOR_TYPE_LOGPACK && readU16(block, 16) === 0 && isU64AllOnes(block, 8);
}

/**
 * Validates a logpack header block and decodes it; returns a reason string when the block is not
 * a valid logpack header (callers decide whether that is the end of the log or an error).
 * Checks: sector type; record count bound; self-checksum with the salt; every record's flags,
 * sizes and lsid; that record lsids are contiguous; total_io_size = sum of the records' data pb.
 * `expectedLsid`, when given, must equal logpack_lsid (that is what rejects older ring laps).
 */
export function decodeLogpackHeader(block: Uint8Array, pbs: number, salt: number, expectedLsid?: number): LogpackHeader | string {
  if (block.length < pbs) return 'short block';
  const sectorType = readU16(block, 4);
  if (sectorType !== SECTOR_TYPE_LOGPACK) return `sector type ${sectorType} is not a logpack header`;
  const nRecords = readU16(block, 16);
  const totalIoSize = readU16(block, 6);
  const logpackLsid = readU64(block, 8);
  if (nRecords === 0) return 'logpack header has no records';
  if (!Number.isFinite(logpackLsid)) return 'logpack lsid beyond 2^53 or invalid';
  if (expectedLsid !== undefined && logpackLsid !== expectedLsid) return `logpack lsid ${logpackLsid} is not the expected ${expectedLsid}`;
  const maxRecords = maxRecordsInLogpack(pbs);
  if (nRecords > maxRecords) return `n_records ${nRecords} exceeds ${maxRecords}`;
  if (walbChecksum(block.subarray(0, pbs), salt) !== 0) return 'logpack header checksum mismatch';
  const nPadding = readU16(block, 18);
  if (nPadding > 1 || nPadding > nRecords) return `n_padding ${nPadding} is invalid`;
  const records: LogRecord[] = new Array(nRecords);
  let dataPb = 0;
  let paddings = 0;
  for (let i = 0; i < nRecords; i++) {
    const off = LOGPACK_HEADER_SIZE + i * LOG_RECORD_SIZE;
    const flags = readU32(block, off + 4);
    const ioSize = readU32(block, off + 16);
    const lsidLocal = readU16(block, off + 20);
    const lsid = readU64(block, off + 24);
    const offset = readU64(block, off + 8);
    if (!(flags & LOG_RECORD_EXIST)) return `record ${i}: EXIST flag not set`;
    let kind: LogRecordKind;
    if (flags & LOG_RECORD_PADDING) {
      kind = LogRecordKind.Padding;
      paddings++;
    } else if (flags & LOG_RECORD_DISCARD) {
      kind = LogRecordKind.Discard;
      if (ioSize === 0 || ioSize > WALB_MAX_DISCARD_IO_SECTORS) return `record ${i}: discard size ${ioSize} is invalid`;
    } else {
      kind = LogRecordKind.Normal;
      if (ioSize === 0 || ioSize > WALB_MAX_NORMAL_IO_SECTORS) return `record ${i}: io size ${ioSize} is invalid`;
    }
    if (!Number.isFinite(offset) || !Number.isFinite(lsid)) return `record ${i}: offset or lsid beyond 2^53`;
    if (lsidLocal === 0 || lsid - lsidLocal !== logpackLsid) return `record ${i}: lsid ${lsid} / lsid_local ${lsidLocal} inconsistent with logpack lsid ${logpackLsid}`;
    if (lsidLocal !== dataPb + 1) return `record ${i}: lsid_local ${lsidLocal} is not contiguous (expected ${dataPb + 1})`;
    const r: LogRecord = { kind, checksum: readU32(block, off), flags, offset, ioSize, lsidLocal, lsid };
    records[i] = r;
    dataPb += recordDataPb(pbs, r);
  }
  if (paddings !== nPadding) return `n_padding ${nPadding} but ${paddings} padding records`;
  if (dataPb !== totalIoSize) return `total_io_size ${totalIoSize} but the records hold ${dataPb} pb`;
  return { pbs, salt, checksum: readU32(block, 0), totalIoSize, logpackLsid, nPadding, records };
}

/** Encodes a logpack header into a zeroed pbs block, with its checksum (device salt). */
export function encodeLogpackHeader(h: LogpackHeader, out: Uint8Array = new Uint8Array(h.pbs)): Uint8Array {
  out.fill(0, 0, h.pbs);
  writeU16(out, 4, SECTOR_TYPE_LOGPACK);
  writeU16(out, 6, h.totalIoSize);
  writeU64(out, 8, h.logpackLsid);
  writeU16(out, 16, h.records.length);
  writeU16(out, 18, h.nPadding);
  h.records.forEach((r, i) => {
    const off = LOGPACK_HEADER_SIZE + i * LOG_RECORD_SIZE;
    writeU32(out, off, r.checksum);
    writeU32(out, off + 4, r.flags);
    writeU64(out, off + 8, r.offset);
    writeU32(out, off + 16, r.ioSize);
    writeU16(out, off + 20, r.lsidLocal);
    writeU64(out, off + 24, r.lsid);
  });
  if (h.records.length > 0) h.checksum = sealBlock(out.subarray(0, h.pbs), 0, h.salt);
  return out;
}

/** The wlog end marker: a header with no records and logpack_lsid all ones, checksummed with the salt. */
export function encodeEndMarker(pbs: number, salt: number): Uint8Array {
  const b = new Uint8Array(pbs);
  writeU16(b, 4, SECTOR_TYPE_LOGPACK);
  writeU64(b, 8, Number.POSITIVE_INFINITY);
  sealBlock(b, 0, salt);
  return b;
}

/**
 * Keeps the first `n` records of a pack (walb-formats §3.6 step 2: a pack is truncated at its
 * first record whose data checksum fails); recomputes total_io_size and n_padding.
 */
export function shrinkLogpack(h: LogpackHeader, n: number): LogpackHeader {
  const records = h.records.slice(0, n);
  let total = 0;
  let pads = 0;
  for (const r of records) {
    total += recordDataPb(h.pbs, r);
    if (r.kind === LogRecordKind.Padding) pads++;
  }
  return { ...h, records, totalIoSize: total, nPadding: pads };
}

/**
 * Builds logpacks as the WalB driver does: records appended in order, data pb counted,
 * capacity limits enforced. Padding to the ring end is the caller's decision (addPadding).
 */
export class LogpackBuilder {
  readonly header: LogpackHeader;
  private readonly maxRecords: number;

  constructor(pbs: number, salt: number, logpackLsid: number, private readonly maxTotalIoSize = MAX_TOTAL_IO_SIZE_IN_LOGPACK_HEADER) {
    this.header = { pbs, salt, checksum: 0, totalIoSize: 0, logpackLsid, nPadding: 0, records: [] };
    this.maxRecords = maxRecordsInLogpack(pbs);
  }

  get isEmpty(): boolean {
    return this.header.records.length === 0;
  }

  get isFull(): boolean {
    return this.header.records.length >= this.maxRecords;
  }

  /** lsid where the next record's data would start. */
  get nextDataLsid(): number {
    return this.header.logpackLsid + 1 + this.header.totalIoSize;
  }

  /** True when a non-discard record of ioSize lb fits (header slots, total_io_size, lsid_local). */
  canAddData(ioSizeLb: number): boolean {
    const pb = capacityPb(this.header.pbs, ioSizeLb);
    const total = this.header.totalIoSize + pb;
    if (this.isFull || total > MAX_TOTAL_IO_SIZE_IN_LOGPACK_HEADER) return false;
    // As in the driver, one IO larger than the pack size limit still goes into an empty pack.
    return this.isEmpty || total <= this.maxTotalIoSize;
  }

  canAddDiscard(): boolean {
    return !this.isFull && this.header.totalIoSize + 1 <= 0xffff;
  }

  /** Adds a normal write; `data` holds at least ioSize*512 bytes (its checksum is computed here). */
  addNormal(offset: number, ioSize: number, data: Uint8Array): LogRecord {
    if (ioSize <= 0 || ioSize > WALB_MAX_NORMAL_IO_SECTORS) throw new RangeError(`io size ${ioSize} lb out of range`);
    if (!this.canAddData(ioSize)) throw new RangeError('logpack is full');
    const checksum = walbChecksum(data.subarray(0, ioSize * LOGICAL_BLOCK_SIZE), this.header.salt);
    return this.push(LogRecordKind.Normal, LOG_RECORD_EXIST, offset, ioSize, checksum);
  }

  addDiscard(offset: number, ioSize: number): LogRecord {
    if (ioSize <= 0 || ioSize > WALB_MAX_DISCARD_IO_SECTORS) throw new RangeError(`discard size ${ioSize} lb out of range`);
    if (!this.canAddDiscard()) throw new RangeError('logpack is full');
    return this.push(LogRecordKind.Discard, LOG_RECORD_EXIST | LOG_RECORD_DISCARD, offset, ioSize, 0);
  }

  /** Adds a padding record of ioSize lb (its data blocks are junk that readers skip). */
  addPadding(ioSize: number): LogRecord {
    if (this.header.nPadding > 0) throw new RangeError('a logpack holds at most one padding record');
    if (!this.canAddData(ioSize)) throw new RangeError('logpack is full');
    this.header.nPadding = 1;
    return this.push(LogRecordKind.Padding, LOG_RECORD_EXIST | LOG_RECORD_PADDING, 0, ioSize, 0);
  }

  private push(kind: LogRecordKind, flags: number, offset: number, ioSize: number, checksum: number): LogRecord {
    const h = this.header;
    const lsidLocal = h.totalIoSize + 1;
    const r: LogRecord = { kind, checksum, flags, offset, ioSize, lsidLocal, lsid: h.logpackLsid + lsidLocal };
    h.records.push(r);
    if (kind !== LogRecordKind.Discard) h.totalIoSize += capacityPb(h.pbs, ioSize);
    return r;
  }

  encode(out?: Uint8Array): Uint8Array {
    return encodeLogpackHeader(this.header, out);
  }
}
