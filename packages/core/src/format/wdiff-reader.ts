/**
 * One pull interface over both wdiff layouts, chosen by the file header's `type`, so that merge,
 * redo and show treat sorted and indexed files alike; plus the `wdiff-show -stat -norec` counters.
 *
 * Records come in address order without overlap. The record object returned by `next()` is reused
 * (copy what you keep); `readData()` gives its decompressed bytes (valid until the next call).
 */
import { readSync } from 'node:fs';
import { UnsupportedError, ioError } from '../errors.js';
import { openInput, type InputFile } from '../io/files.js';
import { SequentialReader } from '../io/sequential-reader.js';
import { uuidToHex } from './binary.js';
import { WDIFF_FILE_HEADER_SIZE, WDIFF_TYPE_INDEXED, WDIFF_TYPE_SORTED } from './constants.js';
import { u32Hex, parseWdiffHeader, wdiffTypeName, type WdiffHeader, type WdiffType } from './wdiff-header.js';
import { IndexedWdiffReader, type IndexedRecordView } from './wdiff-indexed-reader.js';
import { DiffKind, type DiffRecord } from './wdiff-record.js';
import { countRecord, emptyWdiffStats, type WdiffStats } from './wdiff-stats.js';
import { SortedWdiffReader, type SortedRecordView } from './wdiff-sorted-reader.js';

export type WdiffRecordView = SortedRecordView | IndexedRecordView;

export interface WdiffSource {
  readonly type: WdiffType;
  readonly header: WdiffHeader;
  readonly file: string | undefined;
  /** The layout-specific reader (sorted views carry `stored` bytes for pass-through copies). */
  readonly sorted: SortedWdiffReader | null;
  readonly indexed: IndexedWdiffReader | null;
  /** The next record (a reused object), or null at the end. */
  next(): WdiffRecordView | null;
  /** Decompressed blocks * 512 bytes of a normal record (valid until the next call, or in dst). */
  readData(view: DiffRecord, dst?: Uint8Array): Uint8Array;
  /** Bytes of the file read so far, an estimate for indexed files (for progress display). */
  readonly progressBytes: number;
  /** Closes the file when the source owns it. */
  close(): void;
}

class WdiffSourceImpl implements WdiffSource {
  readonly type: WdiffType;
  readonly header: WdiffHeader;
  readonly file: string | undefined;
  readonly sorted: SortedWdiffReader | null;
  readonly indexed: IndexedWdiffReader | null;
  private closed = false;

  constructor(
    reader: SortedWdiffReader | IndexedWdiffReader,
    private readonly onClose: (() => void) | null,
  ) {
    this.type = reader.type;
    this.header = reader.header;
    this.file = reader.file;
    this.sorted = reader instanceof SortedWdiffReader ? reader : null;
    this.indexed = reader instanceof IndexedWdiffReader ? reader : null;
  }

  next(): WdiffRecordView | null {
    return this.sorted !== null ? this.sorted.next() : this.indexed!.next();
  }

  get progressBytes(): number {
    return this.sorted !== null ? this.sorted.progressBytes : this.indexed!.progressBytes;
  }

  readData(view: DiffRecord, dst?: Uint8Array): Uint8Array {
    return this.sorted !== null ? this.sorted.readData(view as SortedRecordView, dst) : this.indexed!.readData(view as IndexedRecordView, dst);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
  }
}

/** Wraps a layout reader; `onClose` runs once on close(). */
export function wdiffSource(reader: SortedWdiffReader | IndexedWdiffReader, onClose: (() => void) | null = null): WdiffSource {
  return new WdiffSourceImpl(reader, onClose);
}

export interface OpenWdiffOptions {
  /** Initial buffer of the sequential reader for sorted files (it grows to the largest record). */
  bufferSize?: number;
}

/**
 * Opens a wdiff file (or '-' for stdin: sorted only, an indexed wdiff needs random access) and
 * returns a source owning the file descriptor.
 */
export function openWdiff(path: string, opts: OpenWdiffOptions = {}): WdiffSource {
  const inp = openInput(path);
  try {
    return sourceOfInput(inp, opts);
  } catch (e) {
    inp.close();
    throw e;
  }
}

function sourceOfInput(inp: InputFile, opts: OpenWdiffOptions): WdiffSource {
  const bufferSize = opts.bufferSize;
  const file = inp.name;
  if (inp.seekable && inp.size !== null) {
    const hb = Buffer.alloc(WDIFF_FILE_HEADER_SIZE);
    let got = 0;
    try {
      while (got < hb.length) {
        const k = readSync(inp.fd, hb, got, hb.length - got, got);
        if (k === 0) break;
        got += k;
      }
    } catch (e) {
      throw ioError('read', file, e);
    }
    const h = parseWdiffHeader(hb.subarray(0, got), { file });
    if (h.type === WDIFF_TYPE_INDEXED) {
      return wdiffSource(new IndexedWdiffReader(inp.fd, { file, size: inp.size }), () => inp.close());
    }
    const input = new SequentialReader(inp.fd, { file, bufferSize, startOffset: WDIFF_FILE_HEADER_SIZE });
    return wdiffSource(new SortedWdiffReader(input, { file, header: h }), () => inp.close());
  }
  const input = new SequentialReader(inp.fd, { file, bufferSize, startOffset: null });
  const h = parseWdiffHeader(input.read(WDIFF_FILE_HEADER_SIZE), { file });
  if (h.type !== WDIFF_TYPE_SORTED) {
    throw new UnsupportedError('an indexed wdiff cannot be read from a pipe (its index is at the end and records need random access)', { file });
  }
  return wdiffSource(new SortedWdiffReader(input, { file, header: h }), () => inp.close());
}

/** Reads every record of a source (verifying as it goes) and counts them. */
export function wdiffStats(src: WdiffSource): WdiffStats {
  const s = emptyWdiffStats();
  let stored = 0;
  for (let r = src.next(); r !== null; r = src.next()) {
    countRecord(s, r.kind, r.blocks);
    if (r.kind === DiffKind.Normal) stored += r.dataSize;
  }
  s.dataSize = src.indexed !== null ? src.indexed.dataAreaSize : stored;
  return s;
}

/** wdiffStats of a file (opened and closed here). */
export function wdiffStatsOfFile(path: string): { header: WdiffHeader; stats: WdiffStats } {
  const src = openWdiff(path);
  try {
    return { header: src.header, stats: wdiffStats(src) };
  } finally {
    src.close();
  }
}

/**
 * The lines `wdiff-show -stat -norec` prints. Its `wdiffNr` line is 0 for sorted and 1 for indexed
 * files (a walb-tools quirk, reproduced).
 */
export function formatWdiffStat(header: WdiffHeader, s: WdiffStats): string[] {
  return [
    'wdiff_h:',
    `  checksum: ${u32Hex(header.checksum)}`,
    `  version: ${header.version}`,
    `  type: ${wdiffTypeName(header.type)}`,
    `  uuid: ${uuidToHex(header.uuid)}`,
    `wdiff_stat: wdiffNr ${header.type === WDIFF_TYPE_INDEXED ? 1 : 0}`,
    `wdiff_stat: normalNr ${s.normalNr}`,
    `wdiff_stat: allZeroNr ${s.allZeroNr}`,
    `wdiff_stat: discardNr ${s.discardNr}`,
    `wdiff_stat: normalLb ${s.normalLb}`,
    `wdiff_stat: allZeroLb ${s.allZeroLb}`,
    `wdiff_stat: discardLb ${s.discardLb}`,
    `wdiff_stat: dataSize ${s.dataSize}`,
  ];
}
