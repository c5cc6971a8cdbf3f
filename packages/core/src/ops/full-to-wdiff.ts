/**
 * A full image → wdiff (walb-tools wdiff-full): the image cut into io-size chunks, each one
 * record. Unlike wdiff-full, all-zero chunks become ALLZERO records (no data stored). A partial
 * last sector cannot be expressed in a wdiff and is left out, as wdiff-full does; the result
 * says how many bytes were left out so that callers can warn.
 */
import { isAllZero } from '@blockwal/native-io';
import { UsageError } from '../errors.js';
import { DEFAULT_MAX_IO_LB, LOGICAL_BLOCK_SIZE } from '../format/constants.js';
import { SortedWdiffWriter } from '../format/wdiff-sorted-writer.js';
import { IndexedWdiffWriter } from '../format/wdiff-indexed-writer.js';
import { DEFAULT_COMPRESSION, type CompressionSpec } from '../format/compression.js';
import type { SequentialWriter } from '../io/sequential-writer.js';
import { readFull } from '../io/read.js';
import { IndexedSink, SortedSink, type DiffSink } from './diff-sinks.js';
import { ioBuffer } from '../io/buffers.js';

export interface FullToWdiffOptions {
  indexed?: boolean;
  /** Chunk size in bytes (default 64 KiB), a multiple of 512, at most 32 MiB. */
  ioSize?: number;
  compression?: CompressionSpec;
  uuid?: Uint8Array;
  inputName?: string;
  outputName?: string;
  tmpDir?: string;
  progress?: (bytes: number) => void;
}

export interface FullToWdiffStats {
  imageBytes: number;
  records: number;
  allZeroRecords: number;
  /** Bytes of a partial last sector that a wdiff cannot hold. */
  droppedTailBytes: number;
}

export const DEFAULT_FULL_IO_SIZE = 64 * 1024;

export function fullToWdiff(inFd: number, seekable: boolean, out: SequentialWriter, opts: FullToWdiffOptions = {}): FullToWdiffStats {
  const ioSize = opts.ioSize ?? DEFAULT_FULL_IO_SIZE;
  if (!Number.isSafeInteger(ioSize) || ioSize <= 0 || ioSize % LOGICAL_BLOCK_SIZE !== 0 || ioSize > 32 * 1024 * 1024) {
    throw new UsageError(`invalid io size ${ioSize}: a multiple of 512 bytes, at most 32 MiB`);
  }
  const compression = opts.compression ?? DEFAULT_COMPRESSION;
  const uuid = opts.uuid ?? new Uint8Array(16);
  const stats: FullToWdiffStats = { imageBytes: 0, records: 0, allZeroRecords: 0, droppedTailBytes: 0 };
  let indexed: IndexedSink | null = null;
  const sink: DiffSink = opts.indexed
    ? (indexed = new IndexedSink(new IndexedWdiffWriter(out, { uuid, compression, file: opts.outputName }), DEFAULT_MAX_IO_LB, { tmpDir: opts.tmpDir }))
    : new SortedSink(new SortedWdiffWriter(out, { uuid, compression, file: opts.outputName }), 0);
  try {
    const buf = ioBuffer(ioSize);
    let address = 0;
    let pos: number | null = seekable ? 0 : null;
    for (;;) {
      const n = readFull(inFd, buf, pos, opts.inputName);
      if (pos !== null) pos += n;
      stats.imageBytes += n;
      const blocks = Math.floor(n / LOGICAL_BLOCK_SIZE);
      stats.droppedTailBytes = n - blocks * LOGICAL_BLOCK_SIZE;
      if (blocks > 0) {
        const data = buf.subarray(0, blocks * LOGICAL_BLOCK_SIZE);
        stats.records++;
        if (isAllZero(data)) {
          stats.allZeroRecords++;
          sink.addAllZero(address, blocks);
        } else sink.addNormal(address, blocks, data);
        address += blocks;
        opts.progress?.(stats.imageBytes);
      }
      if (n < ioSize) break;
    }
    sink.finish();
    return stats;
  } finally {
    indexed?.close();
  }
}
