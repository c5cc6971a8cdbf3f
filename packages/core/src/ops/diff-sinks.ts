/**
 * Where merged or converted diff records go: a sorted wdiff (records longer than max-io-size are
 * cut into consecutive pieces) or an indexed wdiff (each normal record's data becomes one image;
 * the index is resolved newest-wins and split into aligned power-of-two extents at the end).
 */
import { DiffKind } from '../format/wdiff-record.js';
import type { CompressionType } from '../format/constants.js';
import { LOGICAL_BLOCK_SIZE } from '../format/constants.js';
import type { SortedWdiffWriter } from '../format/wdiff-sorted-writer.js';
import type { ImageRef, IndexedRecordInput, IndexedWdiffWriter } from '../format/wdiff-indexed-writer.js';
import { NewestWinsCollector, type NewestWinsOptions } from '../diff/runs.js';
import { splitAligned } from '../diff/aligned-split.js';

export interface DiffSink {
  addNormal(address: number, blocks: number, data: Uint8Array): void;
  /** Already-compressed bytes of a whole record, when the sink can take them as they are. */
  addStored?(address: number, blocks: number, compression: CompressionType, stored: Uint8Array, checksum: number): void;
  addAllZero(address: number, blocks: number): void;
  addDiscard(address: number, blocks: number): void;
  /** Records handed in so far. */
  readonly records: number;
  finish(): void;
}

/** The largest record a sorted wdiff pack can hold (32 MiB). */
export const MAX_SORTED_RECORD_LB = 65536;

export class SortedSink implements DiffSink {
  records = 0;
  private readonly maxIo: number;

  /** maxIoBlocks 0 means no limit other than the 32 MiB pack limit. */
  constructor(
    private readonly w: SortedWdiffWriter,
    maxIoBlocks: number,
  ) {
    this.maxIo = maxIoBlocks > 0 ? Math.min(maxIoBlocks, MAX_SORTED_RECORD_LB) : MAX_SORTED_RECORD_LB;
  }

  /** The record size limit in lb (pass-through records must not exceed it). */
  get maxIoBlocks(): number {
    return this.maxIo;
  }

  addNormal(address: number, blocks: number, data: Uint8Array): void {
    this.records++;
    for (let off = 0; off < blocks; off += this.maxIo) {
      const n = Math.min(this.maxIo, blocks - off);
      this.w.addNormal(address + off, n, data.subarray(off * LOGICAL_BLOCK_SIZE, (off + n) * LOGICAL_BLOCK_SIZE));
    }
  }

  addStored(address: number, blocks: number, compression: CompressionType, stored: Uint8Array, checksum: number): void {
    this.records++;
    this.w.addStored(address, blocks, compression, stored, checksum);
  }

  addAllZero(address: number, blocks: number): void {
    this.records++;
    for (let off = 0; off < blocks; off += this.maxIo) this.w.addAllZero(address + off, Math.min(this.maxIo, blocks - off));
  }

  addDiscard(address: number, blocks: number): void {
    this.records++;
    for (let off = 0; off < blocks; off += this.maxIo) this.w.addDiscard(address + off, Math.min(this.maxIo, blocks - off));
  }

  finish(): void {
    this.w.finish();
  }
}

export class IndexedSink implements DiffSink {
  records = 0;
  private readonly collector: NewestWinsCollector;

  /** Records may overlap: later ones win (this is how wlogs become indexed wdiffs). */
  constructor(
    private readonly w: IndexedWdiffWriter,
    private readonly maxIoBlocks: number,
    opts: NewestWinsOptions = {},
  ) {
    this.collector = new NewestWinsCollector(opts);
  }

  addNormal(address: number, blocks: number, data: Uint8Array): void {
    this.records++;
    const img = this.w.appendImage(data);
    this.collector.table.push(address, blocks, DiffKind.Normal, img.dataOffset, 0, img.dataSize, img.ioChecksum, img.origBlocks, img.compression);
    this.collector.afterPush();
  }

  addAllZero(address: number, blocks: number): void {
    this.records++;
    this.collector.table.push(address, blocks, DiffKind.AllZero);
    this.collector.afterPush();
  }

  addDiscard(address: number, blocks: number): void {
    this.records++;
    this.collector.table.push(address, blocks, DiffKind.Discard);
    this.collector.afterPush();
  }

  /** Spilled runs so far (for stats). */
  get spilledRuns(): number {
    return this.collector.spilledRuns;
  }

  finish(): void {
    try {
      this.w.finish(this.index(), this.records);
    } finally {
      this.collector.close();
    }
  }

  /** Removes temp files without writing the index (on failure). */
  close(): void {
    this.collector.close();
  }

  /** The index records in address order; one reused object (the writer copies what it needs). */
  private *index(): Generator<IndexedRecordInput> {
    const s = this.collector.finish();
    const t = s.table;
    const pieces: number[] = [];
    const image: ImageRef = { dataOffset: 0, dataSize: 0, compression: 0, ioChecksum: 0, origBlocks: 0 };
    const rec: { address: number; blocks: number; kind: DiffKind; image: ImageRef | undefined; ioOffset: number } = { address: 0, blocks: 0, kind: DiffKind.Normal, image: undefined, ioOffset: 0 };
    while (s.next()) {
      const r = s.row;
      rec.kind = t.kind[r]! as DiffKind;
      if (rec.kind === DiffKind.Normal) {
        image.dataOffset = t.src[r]!;
        image.dataSize = t.size[r]!;
        image.compression = t.cmpr[r]!;
        image.ioChecksum = t.csum[r]!;
        image.origBlocks = t.orig[r]!;
        rec.image = image;
      } else rec.image = undefined;
      const skip = t.skip[r]!;
      pieces.length = 0;
      splitAligned(t.address[r]!, t.blocks[r]!, this.maxIoBlocks, (a, b, o) => pieces.push(a, b, o));
      for (let i = 0; i < pieces.length; i += 3) {
        rec.address = pieces[i]!;
        rec.blocks = pieces[i + 1]!;
        rec.ioOffset = skip + pieces[i + 2]!;
        yield rec;
      }
    }
  }
}
