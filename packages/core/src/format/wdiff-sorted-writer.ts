/**
 * Writes a sorted wdiff (walb-formats §6.2): the file header, then packs, then the END pack.
 *
 * Records must come in address order without overlap (a RangeError otherwise: that is a caller
 * bug). A pack closes when it holds 127 records, or when the next record's stored bytes would
 * push its data past the data target (default 4 MiB, at most 32 MiB because walb-tools receivers
 * reject bigger packs); a record bigger than the target forms a pack alone. walb-tools itself
 * closes at 127 records or 32 MiB: pass `packDataTarget: WDIFF_PACK_MAX_DATA_SIZE` to get its
 * exact layout (the vectors' packs all close at 127 records).
 *
 * The pack header comes before its data, so the data of the open pack is buffered (one reused
 * buffer) until the pack closes. Record checksums cover the stored bytes (userland tail rule);
 * the pack checksum is sealed last.
 */
import { walbChecksum } from './checksum.js';
import { DEFAULT_COMPRESSION, RecordCompressor, type CompressionSpec } from './compression.js';
import {
  COMPRESSION_TYPE_COUNT,
  CompressionType,
  LOGICAL_BLOCK_SIZE,
  WDIFF_MAX_RECORDS_IN_PACK,
  WDIFF_PACK_MAX_DATA_SIZE,
  WDIFF_PACK_SIZE,
  WDIFF_TYPE_SORTED,
} from './constants.js';
import { encodeWdiffHeader } from './wdiff-header.js';
import { countRecord, emptyWdiffStats, type WdiffStats } from './wdiff-stats.js';
import { DiffKind, encodeSortedRecord, type DiffRecord } from './wdiff-record.js';
import { encodeEndPack, packRecordOffset, sealSortedPack } from './wdiff-sorted-pack.js';
import type { SequentialWriter } from '../io/sequential-writer.js';
import { ioBuffer } from '../io/buffers.js';

export const DEFAULT_PACK_DATA_TARGET = 4 * 1024 * 1024;
/** Largest normal record (uncompressed and stored): one pack's data. Callers split at max-io-size. */
export const WDIFF_MAX_RECORD_BYTES = WDIFF_PACK_MAX_DATA_SIZE;
const MAX_U32 = 0xffff_ffff;

export interface SortedWdiffWriterOptions {
  /** Device uuid for the file header; all zero by default (as wdiff-merge writes). */
  uuid?: Uint8Array;
  /** Compression of addNormal records; snappy by default. */
  compression?: CompressionSpec;
  /** Name used in error messages. */
  file?: string;
  /** Pack data bytes after which a pack closes (default 4 MiB, at most 32 MiB). */
  packDataTarget?: number;
}

/** What a writer wrote (the wdiff-show -stat counters plus packs). */
export interface WdiffWriteStats extends WdiffStats {
  /** Data packs (END pack not counted). */
  packs: number;
}

export function emptyWdiffWriteStats(): WdiffWriteStats {
  return { ...emptyWdiffStats(), packs: 0 };
}

export class SortedWdiffWriter {
  readonly stats: WdiffWriteStats = emptyWdiffWriteStats();
  private readonly file: string | undefined;
  private readonly target: number;
  private readonly spec: CompressionSpec;
  private compressor: RecordCompressor | null = null;
  private readonly block = new Uint8Array(WDIFF_PACK_SIZE);
  private data: Buffer;
  private n = 0;
  private total = 0;
  private nextAddress = 0;
  private finished = false;
  /** Reused record descriptor for encoding. */
  private readonly rec: DiffRecord = { address: 0, blocks: 0, kind: DiffKind.Normal, compression: CompressionType.None, dataSize: 0, checksum: 0 };

  constructor(
    private readonly out: SequentialWriter,
    opts: SortedWdiffWriterOptions = {},
  ) {
    this.file = opts.file ?? out.file;
    const target = opts.packDataTarget ?? DEFAULT_PACK_DATA_TARGET;
    if (!Number.isInteger(target) || target <= 0 || target > WDIFF_PACK_MAX_DATA_SIZE) {
      throw new RangeError(`packDataTarget must be 1..${WDIFF_PACK_MAX_DATA_SIZE} bytes, got ${target}`);
    }
    this.target = target;
    this.spec = opts.compression ?? DEFAULT_COMPRESSION;
    this.data = ioBuffer(Math.min(target, 1024 * 1024));
    out.write(encodeWdiffHeader(WDIFF_TYPE_SORTED, opts.uuid));
  }

  /** Adds a normal record from its uncompressed data (blocks * 512 bytes), compressing it. */
  addNormal(address: number, blocks: number, data: Uint8Array): void {
    this.checkExtent(address, blocks);
    if (data.length !== blocks * LOGICAL_BLOCK_SIZE) {
      throw new RangeError(`${this.name()}: record at ${address} of ${blocks} lb needs ${blocks * LOGICAL_BLOCK_SIZE} data bytes, got ${data.length}`);
    }
    this.checkNormalSize(address, blocks);
    const c = (this.compressor ??= new RecordCompressor(this.spec)).compress(data);
    this.push(address, blocks, DiffKind.Normal, c.type, c.data, walbChecksum(c.data));
  }

  /**
   * Adds a normal record from already stored (compressed) bytes, e.g. copied from another wdiff.
   * `checksum` (of the stored bytes) is computed when not given.
   */
  addStored(address: number, blocks: number, compression: CompressionType, stored: Uint8Array, checksum?: number): void {
    this.checkExtent(address, blocks);
    this.checkNormalSize(address, blocks);
    if (!Number.isInteger(compression) || compression < 0 || compression >= COMPRESSION_TYPE_COUNT) {
      throw new RangeError(`${this.name()}: unknown compression type ${compression}`);
    }
    if (compression === CompressionType.None && stored.length !== blocks * LOGICAL_BLOCK_SIZE) {
      throw new RangeError(`${this.name()}: uncompressed record at ${address} of ${blocks} lb must store ${blocks * LOGICAL_BLOCK_SIZE} bytes, got ${stored.length}`);
    }
    if (stored.length > WDIFF_MAX_RECORD_BYTES) {
      throw new RangeError(`${this.name()}: record at ${address} stores ${stored.length} bytes, more than ${WDIFF_MAX_RECORD_BYTES}`);
    }
    this.push(address, blocks, DiffKind.Normal, compression, stored, checksum ?? walbChecksum(stored));
  }

  /** Adds a record whose blocks read as zeros. */
  addAllZero(address: number, blocks: number): void {
    this.checkExtent(address, blocks);
    this.push(address, blocks, DiffKind.AllZero, CompressionType.None, null, 0);
  }

  /** Adds a discarded range. */
  addDiscard(address: number, blocks: number): void {
    this.checkExtent(address, blocks);
    this.push(address, blocks, DiffKind.Discard, CompressionType.None, null, 0);
  }

  /** Address (lb) where the next record may start. */
  get nextFreeAddress(): number {
    return this.nextAddress;
  }

  /** Closes the open pack and writes the END pack; flushes the writer but does not sync. */
  finish(): WdiffWriteStats {
    this.checkOpen();
    this.flushPack();
    this.out.write(encodeEndPack());
    this.out.flush();
    this.finished = true;
    return this.stats;
  }

  private push(address: number, blocks: number, kind: DiffKind, compression: CompressionType, stored: Uint8Array | null, checksum: number): void {
    const size = stored === null ? 0 : stored.length;
    if (this.n > 0 && (this.n === WDIFF_MAX_RECORDS_IN_PACK || this.total + size > this.target)) this.flushPack();
    const r = this.rec;
    r.address = address;
    r.blocks = blocks;
    r.kind = kind;
    r.compression = compression;
    r.dataSize = size;
    r.checksum = checksum >>> 0;
    encodeSortedRecord(this.block, packRecordOffset(this.n), r, this.total);
    if (size > 0) {
      if (this.total + size > this.data.length) this.growData(this.total + size);
      this.data.set(stored!, this.total);
    }
    this.n++;
    this.total += size;
    this.nextAddress = address + blocks;
    countRecord(this.stats, kind, blocks);
    this.stats.dataSize += size;
    if (this.n === WDIFF_MAX_RECORDS_IN_PACK) this.flushPack();
  }

  private flushPack(): void {
    if (this.n === 0) return;
    sealSortedPack(this.block, this.n, this.total);
    this.out.write(this.block);
    if (this.total > 0) this.out.write(this.data.subarray(0, this.total));
    this.block.fill(0, 0, packRecordOffset(this.n));
    this.n = 0;
    this.total = 0;
    this.stats.packs++;
  }

  private growData(need: number): void {
    let size = this.data.length;
    while (size < need) size *= 2;
    const bigger = ioBuffer(size);
    bigger.set(this.data.subarray(0, this.total), 0);
    this.data = bigger;
  }

  private checkExtent(address: number, blocks: number): void {
    this.checkOpen();
    if (!Number.isSafeInteger(address) || address < 0) throw new RangeError(`${this.name()}: bad record address ${address}`);
    if (!Number.isInteger(blocks) || blocks < 1 || blocks > MAX_U32) throw new RangeError(`${this.name()}: bad record size ${blocks} lb at address ${address}`);
    if (!Number.isSafeInteger(address + blocks)) throw new RangeError(`${this.name()}: record at ${address} of ${blocks} lb ends beyond 2^53`);
    if (address < this.nextAddress) {
      throw new RangeError(`${this.name()}: record at ${address} of ${blocks} lb is out of order or overlaps the previous one (which ends at ${this.nextAddress})`);
    }
  }

  private checkNormalSize(address: number, blocks: number): void {
    if (blocks * LOGICAL_BLOCK_SIZE > WDIFF_MAX_RECORD_BYTES) {
      throw new RangeError(`${this.name()}: normal record at ${address} of ${blocks} lb is larger than ${WDIFF_MAX_RECORD_BYTES} bytes; split it at max-io-size`);
    }
  }

  private checkOpen(): void {
    if (this.finished) throw new RangeError(`${this.name()}: the writer is finished`);
  }

  private name(): string {
    return this.file ?? 'wdiff';
  }
}
