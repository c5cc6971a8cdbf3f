/**
 * Virtual full image: a base image plus wdiffs (oldest first) streamed out as the full image at
 * the newest state, without writing anything else (walb-tools virt-full-cat). Discards read as
 * zeros. The output has the base image's size; a diff record beyond it is an error.
 */
import { UsageError } from '../errors.js';
import { LOGICAL_BLOCK_SIZE } from '../format/constants.js';
import { DiffKind } from '../format/wdiff-record.js';
import { KwayMerger } from '../diff/kway-merge.js';
import type { SequentialWriter } from '../io/sequential-writer.js';
import { preadExact } from '../io/read.js';
import { WdiffInput, type WdiffRecordSource } from './wdiff-input.js';
import { ioBuffer } from '../io/buffers.js';

export interface VirtualFullOptions {
  baseName?: string;
  diffNames?: string[];
  progress?: (bytes: number) => void;
}

const COPY_CHUNK = 4 * 1024 * 1024;

/** Writes base + diffs to `out`; returns the number of bytes written (= the base size). */
export function writeVirtualFull(baseFd: number, baseSize: number, sources: WdiffRecordSource[], out: SequentialWriter, opts: VirtualFullOptions = {}): number {
  const inputs = sources.map((s) => new WdiffInput(s));
  const merger = new KwayMerger(inputs);
  const buf = ioBuffer(COPY_CHUNK);
  let pos = 0; // bytes written so far
  const copyBase = (end: number) => {
    while (pos < end) {
      const n = Math.min(COPY_CHUNK, end - pos);
      preadExact(baseFd, buf, n, pos, opts.baseName);
      out.write(buf.subarray(0, n));
      pos += n;
      opts.progress?.(pos);
    }
  };
  while (merger.next()) {
    const inp = inputs[merger.input]!;
    const v = inp.view!;
    const start = merger.address * LOGICAL_BLOCK_SIZE;
    const len = merger.blocks * LOGICAL_BLOCK_SIZE;
    if (start + len > baseSize) {
      const name = opts.diffNames?.[merger.input] ?? `wdiff ${merger.input}`;
      throw new UsageError(`${name}: a record at address ${merger.address} (${merger.blocks} lb) lies beyond the end of the base image (${baseSize} bytes)`);
    }
    copyBase(start);
    if (v.kind === DiffKind.Normal) {
      const skip = merger.skip * LOGICAL_BLOCK_SIZE;
      out.write(inp.recordData().subarray(skip, skip + len));
    } else out.writeZeros(len);
    pos += len;
  }
  copyBase(baseSize);
  return pos;
}
