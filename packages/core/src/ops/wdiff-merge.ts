/**
 * N-way merge of wdiffs (walb-formats §6.5): inputs oldest first, newest wins, streamed in
 * address order with one record per input in memory (diff/kway-merge.ts). Output is a sorted or
 * an indexed wdiff. A whole sorted record whose compression already matches the output is copied
 * as stored, without decompressing.
 */
import { LOGICAL_BLOCK_SIZE } from '../format/constants.js';
import { DiffKind } from '../format/wdiff-record.js';
import type { CompressionSpec } from '../format/compression.js';
import { KwayMerger } from '../diff/kway-merge.js';
import { SortedSink, type DiffSink } from './diff-sinks.js';
import { WdiffInput, type WdiffRecordSource } from './wdiff-input.js';

export interface MergeStats {
  inputRecords: number;
  outputRecords: number;
  passedThrough: number;
}

/** Merges `sources` (oldest first) into `sink`; `compression` is the sink's, for pass-through. */
export function mergeWdiffs(sources: WdiffRecordSource[], sink: DiffSink, compression: CompressionSpec, onRecord?: () => void): MergeStats {
  const inputs = sources.map((s) => new WdiffInput(s));
  const stats: MergeStats = { inputRecords: 0, outputRecords: 0, passedThrough: 0 };
  const merger = new KwayMerger(inputs);
  const maxIo = sink instanceof SortedSink ? sink.maxIoBlocks : 0;
  while (merger.next()) {
    const inp = inputs[merger.input]!;
    const v = inp.view!;
    const { address, blocks, skip } = merger;
    stats.outputRecords++;
    onRecord?.();
    if (v.kind === DiffKind.AllZero) sink.addAllZero(address, blocks);
    else if (v.kind === DiffKind.Discard) sink.addDiscard(address, blocks);
    else if (sink.addStored && skip === 0 && blocks === v.blocks && blocks <= maxIo && 'stored' in v && v.compression === compression.type) {
      sink.addStored(address, blocks, v.compression, (v as unknown as { stored: Uint8Array }).stored, v.checksum);
      stats.passedThrough++;
    } else {
      const data = inp.recordData();
      sink.addNormal(address, blocks, data.subarray(skip * LOGICAL_BLOCK_SIZE, (skip + blocks) * LOGICAL_BLOCK_SIZE));
    }
  }
  sink.finish();
  return stats;
}
