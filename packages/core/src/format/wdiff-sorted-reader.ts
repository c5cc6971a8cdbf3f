/**
 * Reads a sorted wdiff (walb-formats §6.2) from a SequentialReader, verifying everything:
 * the file header, each pack header (checksum, n_records <= 127, END pack shape), each record
 * (flags, compression type, io_blocks > 0 for normal records, no data for the others,
 * data_offset continuity, the sum of sizes against total_size), address order without overlap
 * across the whole file, and each record's checksum over its stored bytes.
 *
 * Each pack is read with two `read` calls (header block, then its whole data area); records are
 * views into that data. `next()` returns the same view object every time, updated in place: copy
 * what you need to keep before calling it again.
 *
 * End of input at a pack boundary without an END pack is accepted (wdiff-redo and wdiff-merge
 * accept it; only wdiff-show does not); `endPackSeen` tells which case it was. End of input
 * inside a pack is an UnexpectedEofError naming the pack.
 */
import { BlockwalError, CorruptDataError, FormatError, UnexpectedEofError, UnsupportedError, ChecksumMismatchError, type ErrorWhere } from '../errors.js';
import { walbChecksum } from './checksum.js';
import { decompressInto } from './compression.js';
import { COMPRESSION_TYPE_COUNT, CompressionType, LOGICAL_BLOCK_SIZE, WDIFF_FILE_HEADER_SIZE, WDIFF_PACK_SIZE, WDIFF_TYPE_SORTED } from './constants.js';
import { u32Hex, parseWdiffHeader, type WdiffHeader } from './wdiff-header.js';
import { DiffKind, decodeSortedRecord, type SortedRecordFields } from './wdiff-record.js';
import { packRecordOffset, parseSortedPackHeader } from './wdiff-sorted-pack.js';
import type { SequentialReader } from '../io/sequential-reader.js';
import { ioBuffer } from '../io/buffers.js';

/** Largest pack data area and decompressed record this reader accepts (memory bound). */
export const WDIFF_READ_MAX_BYTES = 256 * 1024 * 1024;

const EMPTY = new Uint8Array(0);

/** A record of a sorted wdiff; the same object is reused by every `next()` call. */
export interface SortedRecordView extends SortedRecordFields {
  /** The stored (possibly compressed) bytes; valid until the next `next()` call. */
  stored: Uint8Array;
  /** 0-based index of the pack in the file. */
  packIndex: number;
  /** 0-based index of the record in its pack. */
  recordIndex: number;
  /** File offset of the stored bytes. */
  dataFileOffset: number;
}

export interface SortedWdiffReaderOptions {
  /** Name used in error messages (defaults to the reader's). */
  file?: string;
  /** The file header, when the caller already read and parsed it from `input`. */
  header?: WdiffHeader;
}

export class SortedWdiffReader {
  readonly type = WDIFF_TYPE_SORTED;
  readonly header: WdiffHeader;
  readonly file: string | undefined;
  /** True once the END pack was read; false while reading or when the input ended without it. */
  endPackSeen = false;
  /** Data packs read so far. */
  packs = 0;
  private readonly block = new Uint8Array(WDIFF_PACK_SIZE);
  private packDataFileOffset = 0;
  private nRecs = 0;
  private recIdx = 0;
  private done = false;
  private prevEnd = 0;
  private out: Buffer = Buffer.alloc(0);
  private readonly view: SortedRecordView = {
    address: 0,
    blocks: 0,
    kind: DiffKind.Normal,
    compression: CompressionType.None,
    dataOffset: 0,
    dataSize: 0,
    checksum: 0,
    stored: new Uint8Array(0),
    packIndex: -1,
    recordIndex: 0,
    dataFileOffset: 0,
  };
  private readonly scratch: SortedRecordFields = { address: 0, blocks: 0, kind: DiffKind.Normal, compression: 0, dataOffset: 0, dataSize: 0, checksum: 0 };

  constructor(
    private readonly input: SequentialReader,
    opts: SortedWdiffReaderOptions = {},
  ) {
    this.file = opts.file ?? input.file;
    const h = opts.header ?? parseWdiffHeader(input.read(WDIFF_FILE_HEADER_SIZE), this.where({}));
    if (h.type !== WDIFF_TYPE_SORTED) {
      throw new FormatError('not a sorted wdiff (the file header says indexed)', this.where({ offset: 0 }));
    }
    this.header = h;
  }

  /** Bytes of the file read so far (for progress display). */
  get progressBytes(): number {
    return this.input.position;
  }

  /** The next record, or null after the last one. */
  next(): SortedRecordView | null {
    while (this.recIdx >= this.nRecs) {
      if (this.done || !this.loadPack()) return null;
    }
    const v = this.view;
    const i = this.recIdx++;
    decodeSortedRecord(this.block, packRecordOffset(i), v);
    v.recordIndex = i;
    v.dataFileOffset = this.packDataFileOffset + v.dataOffset;
    if (v.kind === DiffKind.Normal) {
      // Records' data follow each other (data_offset continuity was checked with the pack header):
      // read them one by one through the small rolling buffer of the input.
      const stored = this.input.read(v.dataSize);
      if (stored.length < v.dataSize) {
        throw new UnexpectedEofError(
          `end of input inside the data of pack ${v.packIndex} (record ${i}: ${stored.length} of ${v.dataSize} bytes)`,
          this.where({ pack: v.packIndex, record: i, offset: v.dataFileOffset + stored.length }),
        );
      }
      const c = walbChecksum(stored, 0);
      if (c !== v.checksum) {
        throw new ChecksumMismatchError(
          `record data checksum mismatch: stored 0x${u32Hex(v.checksum)}, computed 0x${u32Hex(c)} over ${v.dataSize} bytes (record at address ${v.address}, ${v.blocks} lb)`,
          this.where({ pack: v.packIndex, record: i, offset: v.dataFileOffset }),
        );
      }
      v.stored = stored;
    } else {
      v.stored = EMPTY;
    }
    return v;
  }

  /**
   * The decompressed blocks * 512 bytes of a normal record. Without `dst` the result is a reused
   * buffer (or, for uncompressed records, the stored view itself), valid until the next call.
   */
  readData(view: SortedRecordView, dst?: Uint8Array): Uint8Array {
    if (view.kind !== DiffKind.Normal) throw new RangeError(`readData: the record at address ${view.address} is not a normal record`);
    const n = view.blocks * LOGICAL_BLOCK_SIZE;
    const stored = view.stored;
    if (view.compression === CompressionType.None) {
      if (stored.length !== n) {
        throw new CorruptDataError(`uncompressed record stores ${stored.length} bytes, expected ${n} (${view.blocks} lb)`, this.recordWhere(view));
      }
      if (dst === undefined) return stored;
      if (dst.length < n) throw new RangeError(`readData: dst has ${dst.length} bytes, the record needs ${n}`);
      dst.set(stored, 0);
      return dst.subarray(0, n);
    }
    let target: Uint8Array;
    if (dst !== undefined) {
      if (dst.length < n) throw new RangeError(`readData: dst has ${dst.length} bytes, the record needs ${n}`);
      target = dst.subarray(0, n);
    } else {
      if (this.out.length < n) this.out = ioBuffer(Math.max(n, Math.min(2 * this.out.length, WDIFF_READ_MAX_BYTES)));
      target = this.out.subarray(0, n);
    }
    try {
      decompressInto(view.compression, stored, target);
    } catch (e) {
      throw locateCodecError(e, this.recordWhere(view), `record at address ${view.address}`);
    }
    return target;
  }

  private recordWhere(v: SortedRecordView): ErrorWhere {
    return this.where({ pack: v.packIndex, record: v.recordIndex, address: v.address, offset: v.dataFileOffset });
  }

  private where(w: ErrorWhere): ErrorWhere {
    return this.file !== undefined ? { file: this.file, ...w } : w;
  }

  /** Reads the next pack; false at the end (END pack or end of input at a pack boundary). */
  private loadPack(): boolean {
    const pack = this.packs;
    const hdrPos = this.input.position;
    const h = this.input.read(WDIFF_PACK_SIZE);
    if (h.length === 0) {
      this.done = true;
      return false;
    }
    if (h.length < WDIFF_PACK_SIZE) {
      throw new UnexpectedEofError(`end of input inside the header of pack ${pack} (${h.length} of ${WDIFF_PACK_SIZE} bytes)`, this.where({ pack, offset: hdrPos }));
    }
    this.block.set(h, 0);
    const ph = parseSortedPackHeader(this.block, this.where({ pack, offset: hdrPos }));
    if (ph.isEnd) {
      this.done = true;
      this.endPackSeen = true;
      return false;
    }
    if (ph.totalSize > WDIFF_READ_MAX_BYTES) {
      throw new UnsupportedError(`pack holds ${ph.totalSize} data bytes, more than the ${WDIFF_READ_MAX_BYTES} this reader accepts`, this.where({ pack, offset: hdrPos }));
    }
    this.checkRecords(pack, ph.nRecords, ph.totalSize, hdrPos);
    this.packDataFileOffset = this.input.position;
    this.nRecs = ph.nRecords;
    this.recIdx = 0;
    this.view.packIndex = pack;
    this.packs++;
    return true;
  }

  /** Validates every record of the pack block (no data needed). */
  private checkRecords(pack: number, n: number, totalSize: number, hdrPos: number): void {
    const r = this.scratch;
    let running = 0;
    for (let i = 0; i < n; i++) {
      const off = packRecordOffset(i);
      const flags = decodeSortedRecord(this.block, off, r);
      const w = (): ErrorWhere => this.where({ pack, record: i, offset: hdrPos + off });
      if ((r.kind as number) === -1) throw new FormatError(`record flags 0x${flags.toString(16)} set both ALLZERO and DISCARD`, w());
      if (!Number.isSafeInteger(r.address)) throw new UnsupportedError('record address beyond 2^53', w());
      if (r.kind === DiffKind.Normal) {
        if (r.blocks === 0) throw new FormatError(`normal record at address ${r.address} has io_blocks 0`, w());
        if (r.compression >= COMPRESSION_TYPE_COUNT) throw new FormatError(`record at address ${r.address} has unknown compression type ${r.compression}`, w());
        if (r.blocks * LOGICAL_BLOCK_SIZE > WDIFF_READ_MAX_BYTES) {
          throw new UnsupportedError(`normal record at address ${r.address} of ${r.blocks} lb is larger than the ${WDIFF_READ_MAX_BYTES} bytes this reader accepts`, w());
        }
      } else if (r.dataSize !== 0) {
        throw new FormatError(`${r.kind === DiffKind.AllZero ? 'all-zero' : 'discard'} record at address ${r.address} has data_size ${r.dataSize} (must be 0)`, w());
      }
      if (r.dataOffset !== running) {
        throw new FormatError(`record at address ${r.address} has data_offset ${r.dataOffset}, expected ${running} (the sum of the previous data sizes)`, w());
      }
      if (r.address < this.prevEnd) {
        throw new FormatError(`record at address ${r.address} (${r.blocks} lb) is out of order or overlaps the previous record, which ends at ${this.prevEnd}`, w());
      }
      running += r.dataSize;
      this.prevEnd = r.address + r.blocks;
    }
    if (running !== totalSize) {
      throw new FormatError(`pack total_size is ${totalSize} but its records hold ${running} data bytes`, this.where({ pack, offset: hdrPos }));
    }
  }
}

/** Adds a location to a codec error (or wraps a foreign one as CorruptDataError). */
export function locateCodecError(e: unknown, where: ErrorWhere, what: string): Error {
  if (e instanceof BlockwalError) return e.at(where);
  const msg = e instanceof Error ? e.message : String(e);
  return new CorruptDataError(`${what}: cannot decompress: ${msg}`, where);
}
