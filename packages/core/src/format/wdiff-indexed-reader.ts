/**
 * Random-access reader of an indexed wdiff (walb-formats §6.3) over a file descriptor.
 *
 * Opening verifies the file header (type 1) and the index super (last 24 bytes: checksum, and
 * index_offset + 48 * n_records + 24 == file size, index_offset >= 32). `next()` streams the
 * index in chunks (an index may hold millions of records) and verifies every record: its
 * rec_checksum (for all records; walb-tools checks normal ones only), flags, compression type,
 * the image bounds, and address order without overlap. `next()` returns the same view object
 * every time, updated in place.
 *
 * `readData()` reads the record's image (pread at data_offset), verifies io_checksum over the
 * stored bytes, decompresses it to orig_blocks * 512 bytes and returns the record's slice. A small
 * LRU cache keyed by data_offset keeps the last images (consecutive records often share one);
 * its buffers are reused and their total size is bounded.
 */
import { readSync } from 'node:fs';
import { ChecksumMismatchError, FormatError, UnexpectedEofError, UnsupportedError, ioError, type ErrorWhere } from '../errors.js';
import { readU32 } from './binary.js';
import { walbChecksum } from './checksum.js';
import { decompressInto } from './compression.js';
import {
  COMPRESSION_TYPE_COUNT,
  CompressionType,
  LOGICAL_BLOCK_SIZE,
  WDIFF_FILE_HEADER_SIZE,
  WDIFF_INDEX_SUPER_SIZE,
  WDIFF_INDEXED_RECORD_SIZE,
  WDIFF_TYPE_INDEXED,
} from './constants.js';
import { u32Hex, parseIndexSuper, parseWdiffHeader, type WdiffHeader } from './wdiff-header.js';
import { DiffKind, decodeIndexedRecord, type IndexedDiffRecord } from './wdiff-record.js';
import { WDIFF_READ_MAX_BYTES, locateCodecError } from './wdiff-sorted-reader.js';
import { ioBuffer } from '../io/buffers.js';

/** A record of an indexed wdiff; the same object is reused by every `next()` call. */
export interface IndexedRecordView extends IndexedDiffRecord {
  /** 0-based position of the record in the index. */
  recordIndex: number;
  /** File offset of the 48-byte index record. */
  recordFileOffset: number;
}

export interface IndexedWdiffReaderOptions {
  /** Name used in error messages. */
  file?: string;
  /** File size in bytes (the index super is the last 24 bytes). */
  size: number;
  /** Index records read per chunk (default 4096 = 192 KiB). */
  chunkRecords?: number;
  /** Bound of the decompressed-image cache in bytes (default 64 MiB; one image is always kept). */
  cacheBytes?: number;
  /** Most images kept (default 4). */
  cacheImages?: number;
}

interface CachedImage {
  dataOffset: number;
  dataSize: number;
  compression: number;
  origBlocks: number;
  checksum: number;
  lastUse: number;
  buf: Buffer;
}

export class IndexedWdiffReader {
  readonly type = WDIFF_TYPE_INDEXED;
  readonly header: WdiffHeader;
  readonly file: string | undefined;
  readonly size: number;
  readonly indexOffset: number;
  readonly nRecords: number;
  /** n_data of the index super: records handed to the writer (not images). */
  readonly nData: number;
  private readonly chunk: Buffer;
  private readonly chunkRecords: number;
  private chunkFirst = 0; // index of the first record in `chunk`
  private chunkCount = 0;
  private idx = 0;
  private prevEnd = 0;
  private readonly cache: CachedImage[] = [];
  private readonly cacheBytes: number;
  private readonly cacheImages: number;
  private cacheUsed = 0; // bytes of all cache buffers
  private tick = 0;
  private stored: Buffer = Buffer.alloc(0);
  private readonly view: IndexedRecordView = {
    address: 0,
    blocks: 0,
    kind: DiffKind.Normal,
    compression: CompressionType.None,
    dataSize: 0,
    checksum: 0,
    dataOffset: 0,
    ioOffset: 0,
    origBlocks: 0,
    recordIndex: -1,
    recordFileOffset: 0,
  };

  constructor(
    private readonly fd: number,
    opts: IndexedWdiffReaderOptions,
  ) {
    this.file = opts.file;
    const size = opts.size;
    this.size = size;
    const hb = Buffer.alloc(WDIFF_FILE_HEADER_SIZE);
    const got = this.pread(hb, WDIFF_FILE_HEADER_SIZE, 0);
    const h = parseWdiffHeader(hb.subarray(0, got), this.where({}));
    if (h.type !== WDIFF_TYPE_INDEXED) throw new FormatError('not an indexed wdiff (the file header says sorted)', this.where({ offset: 0 }));
    this.header = h;
    const minSize = WDIFF_FILE_HEADER_SIZE + WDIFF_INDEX_SUPER_SIZE;
    if (size < minSize) {
      throw new UnexpectedEofError(`file of ${size} bytes is too small for an indexed wdiff (header and index super take ${minSize})`, this.where({ offset: size }));
    }
    const sb = Buffer.alloc(WDIFF_INDEX_SUPER_SIZE);
    const superPos = size - WDIFF_INDEX_SUPER_SIZE;
    if (this.pread(sb, WDIFF_INDEX_SUPER_SIZE, superPos) < WDIFF_INDEX_SUPER_SIZE) {
      throw new UnexpectedEofError('end of input inside the index super (the file is shorter than its size)', this.where({ offset: superPos }));
    }
    const s = parseIndexSuper(sb, this.where({ offset: superPos }));
    const end = s.indexOffset + WDIFF_INDEXED_RECORD_SIZE * s.nRecords + WDIFF_INDEX_SUPER_SIZE;
    if (s.indexOffset < WDIFF_FILE_HEADER_SIZE || end !== size) {
      throw new FormatError(
        `index super: index_offset ${s.indexOffset} + 48 * ${s.nRecords} records + 24 = ${end}, but the file has ${size} bytes`,
        this.where({ offset: superPos }),
      );
    }
    this.indexOffset = s.indexOffset;
    this.nRecords = s.nRecords;
    this.nData = s.nData;
    this.chunkRecords = Math.max(1, opts.chunkRecords ?? 4096);
    this.chunk = ioBuffer(WDIFF_INDEXED_RECORD_SIZE * Math.min(this.chunkRecords, Math.max(1, s.nRecords)));
    this.cacheBytes = opts.cacheBytes ?? 64 * 1024 * 1024;
    this.cacheImages = Math.max(1, opts.cacheImages ?? 4);
  }

  /** Bytes between the file header and the index (images and padding): wdiff-show's dataSize. */
  get dataAreaSize(): number {
    return this.indexOffset - WDIFF_FILE_HEADER_SIZE;
  }

  /** How far reading has got, as a share of the file size in bytes (for progress display). */
  get progressBytes(): number {
    return this.nRecords === 0 ? this.size : Math.round((this.idx / this.nRecords) * this.size);
  }

  /** The next index record, or null after the last one. */
  next(): IndexedRecordView | null {
    const i = this.idx;
    if (i >= this.nRecords) return null;
    if (i >= this.chunkFirst + this.chunkCount) this.loadChunk(i);
    const off = (i - this.chunkFirst) * WDIFF_INDEXED_RECORD_SIZE;
    const v = this.view;
    const flags = decodeIndexedRecord(this.chunk, off, v);
    v.recordIndex = i;
    v.recordFileOffset = this.indexOffset + i * WDIFF_INDEXED_RECORD_SIZE;
    const w = (): ErrorWhere => this.where({ record: i, offset: v.recordFileOffset });
    if (walbChecksum(this.chunk.subarray(off, off + WDIFF_INDEXED_RECORD_SIZE), 0) !== 0) {
      throw new ChecksumMismatchError(
        `index record checksum mismatch (stored 0x${u32Hex(readU32(this.chunk, off + 44))}; its address field reads ${v.address})`,
        w(),
      );
    }
    if ((v.kind as number) === -1) throw new FormatError(`index record flags 0x${flags.toString(16)} set both ALLZERO and DISCARD`, w());
    if (!Number.isSafeInteger(v.address)) throw new UnsupportedError('index record address beyond 2^53', w());
    if (v.kind === DiffKind.Normal) this.checkNormal(v, w);
    else if (v.dataSize !== 0) {
      throw new FormatError(`${v.kind === DiffKind.AllZero ? 'all-zero' : 'discard'} index record at address ${v.address} has data_size ${v.dataSize} (must be 0)`, w());
    }
    if (v.address < this.prevEnd) {
      throw new FormatError(`index record at address ${v.address} (${v.blocks} lb) is out of order or overlaps the previous record, which ends at ${this.prevEnd}`, w());
    }
    this.prevEnd = v.address + v.blocks;
    this.idx = i + 1;
    return v;
  }

  /**
   * The decompressed blocks * 512 bytes of a normal record: a view into the cached image (valid
   * until the next readData call), or a copy in `dst` when given.
   */
  readData(view: IndexedRecordView, dst?: Uint8Array): Uint8Array {
    if (view.kind !== DiffKind.Normal) throw new RangeError(`readData: the record at address ${view.address} is not a normal record`);
    const img = this.image(view);
    const start = view.ioOffset * LOGICAL_BLOCK_SIZE;
    const slice = img.subarray(start, start + view.blocks * LOGICAL_BLOCK_SIZE);
    if (dst === undefined) return slice;
    if (dst.length < slice.length) throw new RangeError(`readData: dst has ${dst.length} bytes, the record needs ${slice.length}`);
    dst.set(slice, 0);
    return dst.subarray(0, slice.length);
  }

  /** Forgets the cached images and frees their buffers. */
  dropCache(): void {
    this.cache.length = 0;
    this.cacheUsed = 0;
  }

  private checkNormal(v: IndexedRecordView, w: () => ErrorWhere): void {
    if (v.blocks === 0) throw new FormatError(`normal index record at address ${v.address} has io_blocks 0`, w());
    if (v.compression >= COMPRESSION_TYPE_COUNT) throw new FormatError(`index record at address ${v.address} has unknown compression type ${v.compression}`, w());
    if (v.origBlocks === 0 || v.ioOffset + v.blocks > v.origBlocks) {
      throw new FormatError(`index record at address ${v.address}: slice [${v.ioOffset}, ${v.ioOffset + v.blocks}) lb lies outside its image of ${v.origBlocks} lb`, w());
    }
    if (v.origBlocks * LOGICAL_BLOCK_SIZE > WDIFF_READ_MAX_BYTES || v.dataSize > WDIFF_READ_MAX_BYTES) {
      throw new UnsupportedError(`index record at address ${v.address}: image of ${v.origBlocks} lb (${v.dataSize} stored bytes) is larger than the ${WDIFF_READ_MAX_BYTES} bytes this reader accepts`, w());
    }
    if (!Number.isSafeInteger(v.dataOffset) || v.dataOffset < WDIFF_FILE_HEADER_SIZE || v.dataOffset + v.dataSize > this.indexOffset) {
      throw new FormatError(`index record at address ${v.address}: image at byte ${v.dataOffset} of ${v.dataSize} bytes lies outside the data area [32, ${this.indexOffset})`, w());
    }
    if (v.compression === CompressionType.None && v.dataSize !== v.origBlocks * LOGICAL_BLOCK_SIZE) {
      throw new FormatError(`index record at address ${v.address}: uncompressed image stores ${v.dataSize} bytes, expected ${v.origBlocks * LOGICAL_BLOCK_SIZE}`, w());
    }
  }

  private image(v: IndexedRecordView): Buffer {
    const tick = ++this.tick;
    const cache = this.cache;
    for (let k = 0; k < cache.length; k++) {
      const e = cache[k]!;
      if (e.dataOffset !== v.dataOffset) continue;
      if (e.dataSize !== v.dataSize || e.compression !== v.compression || e.origBlocks !== v.origBlocks || e.checksum !== v.checksum) {
        throw new FormatError(
          `records sharing the image at byte ${v.dataOffset} disagree about it (size ${e.dataSize}/${v.dataSize}, compression ${e.compression}/${v.compression}, orig ${e.origBlocks}/${v.origBlocks} lb, checksum 0x${u32Hex(e.checksum)}/0x${u32Hex(v.checksum)})`,
          this.where({ record: v.recordIndex, address: v.address, offset: v.recordFileOffset }),
        );
      }
      e.lastUse = tick;
      return e.buf.subarray(0, e.origBlocks * LOGICAL_BLOCK_SIZE);
    }
    const n = v.origBlocks * LOGICAL_BLOCK_SIZE;
    const e = this.slot(n);
    e.dataOffset = -1; // invalid until decoded
    const w = (): ErrorWhere => this.where({ record: v.recordIndex, address: v.address, offset: v.dataOffset });
    const raw = v.compression === CompressionType.None;
    let stored: Buffer;
    if (raw) stored = e.buf;
    else {
      if (this.stored.length < v.dataSize) this.stored = ioBuffer(Math.max(v.dataSize, 64 * 1024));
      stored = this.stored;
    }
    const got = this.pread(stored, v.dataSize, v.dataOffset);
    if (got < v.dataSize) {
      throw new UnexpectedEofError(`end of input inside the image at byte ${v.dataOffset} (${got} of ${v.dataSize} bytes)`, w());
    }
    const s = stored.subarray(0, v.dataSize);
    const c = walbChecksum(s, 0);
    if (c !== v.checksum) {
      throw new ChecksumMismatchError(
        `image checksum (io_checksum) mismatch: stored 0x${u32Hex(v.checksum)}, computed 0x${u32Hex(c)} over the ${v.dataSize} bytes at byte ${v.dataOffset} (image of the record at address ${v.address})`,
        w(),
      );
    }
    if (!raw) {
      try {
        decompressInto(v.compression, s, e.buf.subarray(0, n));
      } catch (err) {
        throw locateCodecError(err, w(), `image at byte ${v.dataOffset}`);
      }
    }
    e.dataOffset = v.dataOffset;
    e.dataSize = v.dataSize;
    e.compression = v.compression;
    e.origBlocks = v.origBlocks;
    e.checksum = v.checksum;
    e.lastUse = tick;
    return e.buf.subarray(0, n);
  }

  /** A cache entry whose buffer holds at least n bytes: a new one, or the least recently used. */
  private slot(n: number): CachedImage {
    const cache = this.cache;
    let e: CachedImage | undefined;
    if (cache.length < this.cacheImages) {
      e = { dataOffset: -1, dataSize: 0, compression: 0, origBlocks: 0, checksum: 0, lastUse: 0, buf: Buffer.alloc(0) };
      cache.push(e);
    } else {
      e = cache[0]!;
      for (let k = 1; k < cache.length; k++) if (cache[k]!.lastUse < e.lastUse) e = cache[k]!;
    }
    if (e.buf.length < n) {
      this.cacheUsed -= e.buf.length;
      e.buf = Buffer.alloc(0);
      // Keep the total bounded: drop the other entries (least recently used first) while needed.
      while (this.cacheUsed + n > this.cacheBytes && cache.length > 1) {
        let victim = -1;
        for (let k = 0; k < cache.length; k++) {
          if (cache[k] === e) continue;
          if (victim < 0 || cache[k]!.lastUse < cache[victim]!.lastUse) victim = k;
        }
        this.cacheUsed -= cache[victim]!.buf.length;
        cache.splice(victim, 1);
      }
      e.buf = ioBuffer(Math.max(n, 64 * 1024));
      this.cacheUsed += e.buf.length;
    }
    return e;
  }

  private loadChunk(first: number): void {
    const count = Math.min(this.chunkRecords, this.nRecords - first);
    const bytes = count * WDIFF_INDEXED_RECORD_SIZE;
    const pos = this.indexOffset + first * WDIFF_INDEXED_RECORD_SIZE;
    const got = this.pread(this.chunk, bytes, pos);
    if (got < bytes) {
      throw new UnexpectedEofError(`end of input inside the index (${got} of ${bytes} bytes at byte ${pos}); the file shrank while being read`, this.where({ record: first, offset: pos + got }));
    }
    this.chunkFirst = first;
    this.chunkCount = count;
  }

  /** Reads up to n bytes at pos into buf[0..n); returns how many were read (fewer at end of file). */
  private pread(buf: Uint8Array, n: number, pos: number): number {
    let got = 0;
    while (got < n) {
      let k: number;
      try {
        k = readSync(this.fd, buf, got, n - got, pos + got);
      } catch (e) {
        throw ioError('read', this.file, e);
      }
      if (k === 0) break;
      got += k;
    }
    return got;
  }

  private where(w: ErrorWhere): ErrorWhere {
    return this.file !== undefined ? { file: this.file, ...w } : w;
  }
}
