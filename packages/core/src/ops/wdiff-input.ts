/**
 * A wdiff reader (sorted or indexed) as an input of the k-way merge: it exposes the current
 * record's extent and decompresses its data at most once, however many pieces of it are used.
 */
import type { MergeInput } from '../diff/kway-merge.js';
import type { DiffRecord } from '../format/wdiff-record.js';

/** What the merge needs from a wdiff reader; both SortedWdiffReader and IndexedWdiffReader fit. */
export interface WdiffRecordSource<V extends DiffRecord = DiffRecord> {
  next(): V | null;
  readData(view: V, dst?: Uint8Array): Uint8Array;
}

export class WdiffInput<V extends DiffRecord = DiffRecord> implements MergeInput {
  view: V | null = null;
  address = 0;
  blocks = 0;
  private data: Uint8Array | null = null;

  constructor(readonly source: WdiffRecordSource<V>) {
    this.next();
  }

  next(): void {
    this.view = this.source.next();
    this.data = null;
    if (this.view) {
      this.address = this.view.address;
      this.blocks = this.view.blocks;
    } else {
      this.address = Number.POSITIVE_INFINITY;
      this.blocks = 0;
    }
  }

  /** The decompressed data of the current (normal) record; valid until next(). */
  recordData(): Uint8Array {
    this.data ??= this.source.readData(this.view!);
    return this.data;
  }
}
