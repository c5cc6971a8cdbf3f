/**
 * Redo: apply a wlog (in log order) or a wdiff to an image file or block device.
 * Discards are zero-filled by default so that the result is exact; `discard: 'ignore'` skips them.
 */
import { openSync } from 'node:fs';
import { ioError } from '../errors.js';
import { LOGICAL_BLOCK_SIZE } from '../format/constants.js';
import { LogRecordKind } from '../format/logpack.js';
import { decodeWlogFd } from '../format/wlog-file.js';
import { ImageTarget } from './image-target.js';

export type DiscardMode = 'zero' | 'ignore';

export interface RedoStats {
  normalRecords: number;
  normalBytes: number;
  discardRecords: number;
  discardBytes: number;
  endLsid?: number;
}

export function openImage(file: string): ImageTarget {
  let fd: number;
  try {
    fd = openSync(file, 'r+');
  } catch (e) {
    throw ioError('open image', file, e);
  }
  return new ImageTarget(fd, file);
}

/** Applies a wlog read from `inFd` to an image; returns what was applied. */
export function redoWlog(
  inFd: number,
  inName: string,
  image: ImageTarget,
  opts: { discard?: DiscardMode; seekable?: boolean; progress?: (bytes: number) => void } = {},
): RedoStats {
  const stats: RedoStats = { normalRecords: 0, normalBytes: 0, discardRecords: 0, discardBytes: 0 };
  const zero = (opts.discard ?? 'zero') === 'zero';
  const dec = decodeWlogFd(
    inFd,
    {
      pack(_pack, fileOffset) {
        opts.progress?.(fileOffset);
      },
      record(_pack, _i, rec, data) {
        if (rec.kind === LogRecordKind.Normal) {
          image.write(data!, rec.offset * LOGICAL_BLOCK_SIZE);
          stats.normalRecords++;
          stats.normalBytes += data!.length;
        } else if (rec.kind === LogRecordKind.Discard) {
          stats.discardRecords++;
          stats.discardBytes += rec.ioSize * LOGICAL_BLOCK_SIZE;
          if (zero) image.zeroBlocks(rec.offset, rec.ioSize);
        }
      },
    },
    { file: inName, seekable: opts.seekable },
  );
  stats.endLsid = dec.endLsid;
  image.sync();
  return stats;
}

export function closeImage(image: ImageTarget): void {
  image.close();
}
