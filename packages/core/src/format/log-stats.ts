/** Counters of a run of logpacks (what `wlog-show -stat` / `wldev-show -stat` print). */
import { capacityPb } from './constants.js';
import { LogRecordKind, type LogpackHeader } from './logpack.js';

export interface LogStats {
  packs: number;
  normalRecords: number;
  normalLb: number;
  discardRecords: number;
  discardLb: number;
  paddingRecords: number;
  paddingPb: number;
}

export function emptyLogStats(): LogStats {
  return { packs: 0, normalRecords: 0, normalLb: 0, discardRecords: 0, discardLb: 0, paddingRecords: 0, paddingPb: 0 };
}

/** Counts one logpack and its records. */
export function countLogpack(s: LogStats, pack: LogpackHeader): void {
  s.packs++;
  for (const r of pack.records) {
    if (r.kind === LogRecordKind.Normal) {
      s.normalRecords++;
      s.normalLb += r.ioSize;
    } else if (r.kind === LogRecordKind.Discard) {
      s.discardRecords++;
      s.discardLb += r.ioSize;
    } else {
      s.paddingRecords++;
      s.paddingPb += capacityPb(pack.pbs, r.ioSize);
    }
  }
}
