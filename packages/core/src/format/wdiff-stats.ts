/** The record counters of a wdiff (what `wdiff-show -stat -norec` prints), shared by readers and writers. */
import { DiffKind } from './wdiff-record.js';

export interface WdiffStats {
  normalNr: number;
  allZeroNr: number;
  discardNr: number;
  normalLb: number;
  allZeroLb: number;
  discardLb: number;
  /** Sorted: stored bytes of all records. Indexed: bytes between the file header and the index. */
  dataSize: number;
}

export function emptyWdiffStats(): WdiffStats {
  return { normalNr: 0, allZeroNr: 0, discardNr: 0, normalLb: 0, allZeroLb: 0, discardLb: 0, dataSize: 0 };
}

/** Counts one record of `blocks` lb. */
export function countRecord(s: WdiffStats, kind: DiffKind, blocks: number): void {
  if (kind === DiffKind.Normal) {
    s.normalNr++;
    s.normalLb += blocks;
  } else if (kind === DiffKind.AllZero) {
    s.allZeroNr++;
    s.allZeroLb += blocks;
  } else {
    s.discardNr++;
    s.discardLb += blocks;
  }
}
