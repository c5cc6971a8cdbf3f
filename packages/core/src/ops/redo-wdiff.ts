/**
 * Redo of a wdiff (either layout) onto an image: normal records write their data, all-zero
 * records write zeros, discards write zeros by default ('ignore' leaves them alone, like
 * wdiff-redo without -z/-d). The image gathers small writes into batches (image-target.ts) and
 * is synced at the end.
 */
import { LOGICAL_BLOCK_SIZE } from '../format/constants.js';
import { DiffKind } from '../format/wdiff-record.js';
import type { WdiffSource } from '../format/wdiff-reader.js';
import type { ImageTarget } from './image-target.js';
import type { DiscardMode } from './redo.js';

export interface WdiffRedoOptions {
  discard?: DiscardMode;
  /** Called now and then with the bytes of the wdiff read so far. */
  progress?: (bytes: number) => void;
}

export interface WdiffRedoStats {
  normalRecords: number;
  /** Uncompressed bytes written by normal records. */
  normalBytes: number;
  allZeroRecords: number;
  allZeroBytes: number;
  discardRecords: number;
  discardBytes: number;
}

export function redoWdiff(src: WdiffSource, image: ImageTarget, opts: WdiffRedoOptions = {}): WdiffRedoStats {
  const stats: WdiffRedoStats = { normalRecords: 0, normalBytes: 0, allZeroRecords: 0, allZeroBytes: 0, discardRecords: 0, discardBytes: 0 };
  const zeroDiscards = (opts.discard ?? 'zero') === 'zero';
  let n = 0;
  for (let r = src.next(); r !== null; r = src.next()) {
    if (opts.progress && (++n & 1023) === 0) opts.progress(src.progressBytes);
    const bytes = r.blocks * LOGICAL_BLOCK_SIZE;
    if (r.kind === DiffKind.Normal) {
      stats.normalRecords++;
      stats.normalBytes += bytes;
      image.write(src.readData(r), r.address * LOGICAL_BLOCK_SIZE);
    } else if (r.kind === DiffKind.AllZero) {
      stats.allZeroRecords++;
      stats.allZeroBytes += bytes;
      image.zeroBlocks(r.address, r.blocks);
    } else {
      stats.discardRecords++;
      stats.discardBytes += bytes;
      if (zeroDiscards) image.zeroBlocks(r.address, r.blocks);
    }
  }
  image.sync();
  return stats;
}
