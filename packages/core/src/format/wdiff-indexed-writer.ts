/**
 * Low-level writer of an indexed wdiff (walb-formats §6.3): the file header, then images written
 * as they come, then (in `finish`) zero padding to a multiple of 8, the index records in the
 * order given, and the index super.
 *
 * Overlap elimination and the power-of-two splitting of the index belong to the caller (the
 * conversion code): `finish` only checks that the records it gets are sorted, non-overlapping and
 * point inside their images. rec_checksum is computed for every record. Non-normal records carry
 * no image; their data_offset is the writer's offset when they were produced in walb-tools, which
 * the caller may pass as `dataOffset` (default: the end of the images).
 */
import { walbChecksum } from './checksum.js';
import { DEFAULT_COMPRESSION, RecordCompressor, type CompressionSpec } from './compression.js';
import { CompressionType, LOGICAL_BLOCK_SIZE, WDIFF_FILE_HEADER_SIZE, WDIFF_INDEXED_RECORD_SIZE, WDIFF_TYPE_INDEXED } from './constants.js';
import { encodeIndexSuper, encodeWdiffHeader } from './wdiff-header.js';
import { countRecord, emptyWdiffStats, type WdiffStats } from './wdiff-stats.js';
import { DiffKind, encodeIndexedRecord, type IndexedDiffRecord } from './wdiff-record.js';
import { WDIFF_MAX_RECORD_BYTES } from './wdiff-sorted-writer.js';
import type { SequentialWriter } from '../io/sequential-writer.js';

const MAX_U32 = 0xffff_ffff;

/** Where an image was written and how to read it back. */
export interface ImageRef {
  dataOffset: number;
  dataSize: number;
  compression: CompressionType;
  ioChecksum: number;
  origBlocks: number;
}

export interface IndexedRecordInput {
  address: number;
  blocks: number;
  kind: DiffKind;
  /** The image holding the record's data (normal records only). */
  image?: ImageRef;
  /** lb offset of the record inside its image (default 0). Non-normal records may carry one too. */
  ioOffset?: number;
  /** data_offset stored for a non-normal record (meaningless; default: the end of the images). */
  dataOffset?: number;
}

export interface IndexedWdiffWriterOptions {
  uuid?: Uint8Array;
  /** Compression of the images; snappy by default. */
  compression?: CompressionSpec;
  file?: string;
}

export interface IndexedWdiffWriteStats extends WdiffStats {
  images: number;
  /** Stored bytes of all images. */
  imageBytes: number;
  indexOffset: number;
  nRecords: number;
}

export class IndexedWdiffWriter {
  readonly stats: IndexedWdiffWriteStats = {
    ...emptyWdiffStats(),
    images: 0,
    imageBytes: 0,
    indexOffset: 0,
    nRecords: 0,
  };
  private readonly file: string | undefined;
  private readonly spec: CompressionSpec;
  private compressor: RecordCompressor | null = null;
  private readonly dataStart: number;
  private finished = false;
  private readonly rec: IndexedDiffRecord = {
    address: 0,
    blocks: 0,
    kind: DiffKind.Normal,
    compression: CompressionType.None,
    dataSize: 0,
    checksum: 0,
    dataOffset: 0,
    ioOffset: 0,
    origBlocks: 0,
  };

  constructor(
    private readonly out: SequentialWriter,
    opts: IndexedWdiffWriterOptions = {},
  ) {
    this.file = opts.file ?? out.file;
    this.spec = opts.compression ?? DEFAULT_COMPRESSION;
    out.write(encodeWdiffHeader(WDIFF_TYPE_INDEXED, opts.uuid));
    this.dataStart = out.position;
  }

  /** File offset of the next image. */
  get position(): number {
    return this.out.position;
  }

  /** Compresses and writes one image (the uncompressed data of an IO, a multiple of 512 bytes). */
  appendImage(data: Uint8Array): ImageRef {
    this.checkOpen();
    if (data.length === 0 || data.length % LOGICAL_BLOCK_SIZE !== 0) {
      throw new RangeError(`${this.name()}: an image must be a positive multiple of ${LOGICAL_BLOCK_SIZE} bytes, got ${data.length}`);
    }
    if (data.length > WDIFF_MAX_RECORD_BYTES) throw new RangeError(`${this.name()}: image of ${data.length} bytes is larger than ${WDIFF_MAX_RECORD_BYTES}; split it`);
    const c = (this.compressor ??= new RecordCompressor(this.spec)).compress(data);
    const ref: ImageRef = {
      dataOffset: this.out.position,
      dataSize: c.data.length,
      compression: c.type,
      ioChecksum: walbChecksum(c.data, 0),
      origBlocks: data.length / LOGICAL_BLOCK_SIZE,
    };
    this.out.write(c.data);
    this.stats.images++;
    this.stats.imageBytes += c.data.length;
    return ref;
  }

  /**
   * Pads to a multiple of 8, writes the index (records in the order given; they must be sorted and
   * non-overlapping) and the index super, and flushes (no sync). `nData` is the super's n_data:
   * the number of records the conversion received (walb-tools counts every input record).
   */
  finish(records: Iterable<IndexedRecordInput>, nData: number): IndexedWdiffWriteStats {
    this.checkOpen();
    if (!Number.isInteger(nData) || nData < 0 || nData > MAX_U32) throw new RangeError(`${this.name()}: bad n_data ${nData}`);
    const imagesEnd = this.out.position;
    this.out.writeZeros((8 - (imagesEnd % 8)) % 8);
    const indexOffset = this.out.position;
    const s = this.stats;
    const r = this.rec;
    let prevEnd = 0;
    let n = 0;
    for (const inp of records) {
      this.checkRecord(inp, prevEnd, imagesEnd);
      r.address = inp.address;
      r.blocks = inp.blocks;
      r.kind = inp.kind;
      r.ioOffset = inp.ioOffset ?? 0;
      if (inp.kind === DiffKind.Normal) {
        const img = inp.image!;
        r.compression = img.compression;
        r.dataOffset = img.dataOffset;
        r.dataSize = img.dataSize;
        r.origBlocks = img.origBlocks;
        r.checksum = img.ioChecksum;
      } else {
        r.compression = CompressionType.None;
        r.dataOffset = inp.dataOffset ?? imagesEnd;
        r.dataSize = 0;
        r.origBlocks = 0;
        r.checksum = 0;
      }
      countRecord(s, inp.kind, inp.blocks);
      encodeIndexedRecord(this.out.reserve(WDIFF_INDEXED_RECORD_SIZE), 0, r);
      this.out.commit(WDIFF_INDEXED_RECORD_SIZE);
      prevEnd = inp.address + inp.blocks;
      n++;
      if (n > MAX_U32) throw new RangeError(`${this.name()}: more than ${MAX_U32} index records`);
    }
    this.out.write(encodeIndexSuper({ indexOffset, nRecords: n, nData }));
    this.out.flush();
    s.dataSize = indexOffset - WDIFF_FILE_HEADER_SIZE;
    s.indexOffset = indexOffset;
    s.nRecords = n;
    this.finished = true;
    return s;
  }

  private checkRecord(inp: IndexedRecordInput, prevEnd: number, imagesEnd: number): void {
    const { address, blocks, kind } = inp;
    const at = `${this.name()}: index record at ${address} of ${blocks} lb`;
    if (!Number.isSafeInteger(address) || address < 0) throw new RangeError(`${at}: bad address`);
    if (!Number.isInteger(blocks) || blocks < 1 || blocks > MAX_U32 || !Number.isSafeInteger(address + blocks)) throw new RangeError(`${at}: bad size`);
    if (address < prevEnd) throw new RangeError(`${at} is out of order or overlaps the previous one (which ends at ${prevEnd})`);
    const ioOffset = inp.ioOffset ?? 0;
    if (!Number.isInteger(ioOffset) || ioOffset < 0 || ioOffset > MAX_U32) throw new RangeError(`${at}: bad ioOffset ${ioOffset}`);
    if (kind === DiffKind.Normal) {
      const img = inp.image;
      if (img === undefined) throw new RangeError(`${at}: a normal record needs an image`);
      if (ioOffset + blocks > img.origBlocks) throw new RangeError(`${at}: slice [${ioOffset}, ${ioOffset + blocks}) is outside its image of ${img.origBlocks} lb`);
      if (img.dataOffset < this.dataStart || img.dataOffset + img.dataSize > imagesEnd) throw new RangeError(`${at}: its image at byte ${img.dataOffset} was not written by this writer`);
    } else if (kind === DiffKind.AllZero || kind === DiffKind.Discard) {
      if (inp.image !== undefined) throw new RangeError(`${at}: a non-normal record has no image`);
      if (inp.dataOffset !== undefined && (!Number.isSafeInteger(inp.dataOffset) || inp.dataOffset < 0)) throw new RangeError(`${at}: bad dataOffset ${inp.dataOffset}`);
    } else {
      throw new RangeError(`${at}: unknown kind ${String(kind)}`);
    }
  }

  private checkOpen(): void {
    if (this.finished) throw new RangeError(`${this.name()}: the writer is finished`);
  }

  private name(): string {
    return this.file ?? 'wdiff';
  }
}
