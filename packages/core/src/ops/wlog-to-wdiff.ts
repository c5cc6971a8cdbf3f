/**
 * wlog → wdiff conversion (walb-formats §6.4), streaming with bounded memory.
 *
 * Per log record: padding is dropped; a discard becomes a DISCARD record; a normal record whose
 * data is all zero becomes an ALLZERO record; other normal records keep their data. Later writes
 * win where records overlap (newest-wins over runs, spilled to disk when large, see diff/runs.ts).
 *
 * Sorted output: the data stays where it is (the wlog file itself, or a temp spool when the input
 * is a pipe) and is read back in address order once the overlaps are resolved; records longer
 * than max-io-size are cut into consecutive pieces.
 * Indexed output: each normal IO is compressed and written as an image as soon as it is read;
 * the index (aligned power-of-two extents, §6.3) is written at the end.
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IoPlan, isAllZero, preadBatch } from '@blockwal/native-io';
import { DEFAULT_MAX_IO_LB, LOGICAL_BLOCK_SIZE } from '../format/constants.js';
import { LogRecordKind } from '../format/logpack.js';
import { WlogDecoder } from '../format/wlog-decoder.js';
import type { WlogHeader } from '../format/wlog-header.js';
import { DiffKind } from '../format/wdiff-record.js';
import { SortedWdiffWriter } from '../format/wdiff-sorted-writer.js';
import { IndexedWdiffWriter } from '../format/wdiff-indexed-writer.js';
import { DEFAULT_COMPRESSION, type CompressionSpec } from '../format/compression.js';
import { NewestWinsCollector, type ExtentStream } from '../diff/runs.js';
import { SequentialWriter } from '../io/sequential-writer.js';
import { readChunks } from '../io/read.js';
import { ioError } from '../errors.js';
import { IndexedSink, SortedSink } from './diff-sinks.js';
import { ioBuffer } from '../io/buffers.js';

export interface WlogToWdiffOptions {
  indexed?: boolean;
  /** Largest record in lb (default 2048 = 1 MiB); 0 = no limit (then 32 MiB for sorted output). */
  maxIoBlocks?: number;
  compression?: CompressionSpec;
  /** Where spilled runs and the spool of a piped input go (default: the system temp dir). */
  tmpDir?: string;
  /** Extents per in-memory run (tests use small values to force spills). */
  runExtents?: number;
  inputName?: string;
  outputName?: string;
  /** Called now and then with the number of input bytes consumed. */
  progress?: (bytes: number) => void;
  /** Size of the reads of the input (default 4 MiB; tests use small ones). */
  chunkSize?: number;
}

export interface ConversionStats {
  inputBytes: number;
  /** Log records converted (normal and discard; paddings are dropped). */
  logRecords: number;
  endLsid: number;
  header: WlogHeader | null;
  spilledRuns: number;
}

interface Spool {
  dir: string;
  fd: number;
  file: string;
  writer: SequentialWriter;
}

/**
 * Converts the wlog read from `inFd` into a wdiff written to `out`. `seekable` says whether
 * record data can be read back from `inFd` by offset (otherwise it is spooled to a temp file).
 */
export function wlogToWdiff(inFd: number, seekable: boolean, out: SequentialWriter, opts: WlogToWdiffOptions = {}): ConversionStats {
  const maxIo = opts.maxIoBlocks ?? DEFAULT_MAX_IO_LB;
  const compression = opts.compression ?? DEFAULT_COMPRESSION;
  const stats: ConversionStats = { inputBytes: 0, logRecords: 0, endLsid: 0, header: null, spilledRuns: 0 };
  const collector = opts.indexed ? null : new NewestWinsCollector({ runExtents: opts.runExtents, tmpDir: opts.tmpDir });
  let indexed: IndexedSink | null = null;
  let spool: Spool | null = null;
  try {
    const dec = new WlogDecoder(
      {
        header(h) {
          if (stats.header) return;
          stats.header = h;
          if (opts.indexed) {
            const w = new IndexedWdiffWriter(out, { uuid: h.uuid, compression, file: opts.outputName });
            indexed = new IndexedSink(w, maxIo, { runExtents: opts.runExtents, tmpDir: opts.tmpDir });
          }
        },
        record(_pack, _i, rec, data, dataOffset) {
          if (rec.kind === LogRecordKind.Padding) return;
          stats.logRecords++;
          const sink = indexed as IndexedSink | null;
          if (sink) {
            if (rec.kind === LogRecordKind.Discard) sink.addDiscard(rec.offset, rec.ioSize);
            else if (isAllZero(data!)) sink.addAllZero(rec.offset, rec.ioSize);
            else sink.addNormal(rec.offset, rec.ioSize, data!);
            return;
          }
          const t = collector!.table;
          if (rec.kind === LogRecordKind.Discard) t.push(rec.offset, rec.ioSize, DiffKind.Discard);
          else if (isAllZero(data!)) t.push(rec.offset, rec.ioSize, DiffKind.AllZero);
          else if (seekable) t.push(rec.offset, rec.ioSize, DiffKind.Normal, dataOffset);
          else {
            spool ??= openSpool(opts.tmpDir);
            t.push(rec.offset, rec.ioSize, DiffKind.Normal, spool.writer.position);
            spool.writer.write(data!);
          }
          collector!.afterPush();
        },
      },
      opts.inputName,
    );
    readChunks(inFd, seekable, opts.inputName, (chunk) => {
      dec.push(chunk);
      stats.inputBytes += chunk.length;
      opts.progress?.(stats.inputBytes);
    }, opts.chunkSize);
    dec.end();
    stats.endLsid = dec.endLsid;
    const sink = indexed as IndexedSink | null;
    if (sink) {
      stats.spilledRuns = sink.spilledRuns;
      sink.finish();
    } else {
      stats.spilledRuns = collector!.spilledRuns;
      const s = spool as Spool | null;
      s?.writer.flush();
      const w = new SortedWdiffWriter(out, { uuid: stats.header?.uuid ?? new Uint8Array(16), compression, file: opts.outputName });
      writeSorted(collector!.finish(), new SortedSink(w, maxIo), s ? s.fd : inFd, s ? s.file : (opts.inputName ?? 'input'));
    }
    return stats;
  } finally {
    collector?.close();
    (indexed as IndexedSink | null)?.close();
    const s = spool as Spool | null;
    if (s) {
      closeSync(s.fd);
      rmSync(s.dir, { recursive: true, force: true });
    }
  }
}

function openSpool(tmpDir?: string): Spool {
  const dir = mkdtempSync(path.join(tmpDir ?? os.tmpdir(), 'blockwal-spool-'));
  const file = path.join(dir, 'data');
  const fd = openSync(file, 'w+');
  return { dir, fd, file, writer: new SequentialWriter(fd, { file }) };
}

/** Bytes of record data read back per batch (one native call for many small records). */
const READ_BACK_BYTES = 256 * 1024;

/**
 * Writes resolved extents in address order, reading normal data back from `srcFd`: the reads of
 * a window of records are issued as one batch (preadBatch), then the records go to the sink in
 * order.
 */
function writeSorted(s: ExtentStream, sink: SortedSink, srcFd: number, srcName: string): void {
  const maxIo = sink.maxIoBlocks;
  let buf = ioBuffer(READ_BACK_BYTES);
  const plan = new IoPlan(256);
  // The window: extents in order, as (kind, address, blocks, buffer offset) quadruples.
  const win: number[] = [];
  let used = 0;
  const flush = () => {
    if (plan.count > 0) {
      try {
        preadBatch(srcFd, buf, plan);
      } catch (e) {
        throw ioError('read back record data', srcName, e);
      }
    }
    for (let i = 0; i < win.length; i += 4) {
      const kind = win[i]!;
      if (kind === DiffKind.Normal) sink.addNormal(win[i + 1]!, win[i + 2]!, buf.subarray(win[i + 3]!, win[i + 3]! + win[i + 2]! * LOGICAL_BLOCK_SIZE));
      else if (kind === DiffKind.AllZero) sink.addAllZero(win[i + 1]!, win[i + 2]!);
      else sink.addDiscard(win[i + 1]!, win[i + 2]!);
    }
    win.length = 0;
    plan.clear();
    used = 0;
  };
  const t = s.table;
  while (s.next()) {
    const r = s.row;
    const kind = t.kind[r]!;
    const address = t.address[r]!;
    const blocks = t.blocks[r]!;
    if (kind !== DiffKind.Normal) {
      win.push(kind, address, blocks, 0);
      continue;
    }
    for (let off = 0; off < blocks; off += maxIo) {
      const n = Math.min(maxIo, blocks - off);
      const bytes = n * LOGICAL_BLOCK_SIZE;
      if (used + bytes > buf.length) {
        flush();
        if (bytes > buf.length) buf = ioBuffer(bytes);
      }
      plan.add(used, t.src[r]! + (t.skip[r]! + off) * LOGICAL_BLOCK_SIZE, bytes);
      win.push(kind, address + off, n, used);
      used += bytes;
    }
  }
  flush();
  sink.finish();
}
