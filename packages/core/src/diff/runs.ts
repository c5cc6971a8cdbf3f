/**
 * Newest-wins overlap elimination with bounded memory: extents are collected in write order into
 * a run of at most `runExtents`; a full run is resolved (newest-wins.ts) and spilled to a temp
 * file as sorted, non-overlapping extents (40 bytes each); at the end all runs are merged with the
 * k-way merge, later runs winning. Small inputs never touch the disk.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ioError } from '../errors.js';
import { EXTENT_RECORD_BYTES, ExtentTable } from './extent-table.js';
import { KwayMerger, type MergeInput } from './kway-merge.js';
import { resolveNewestWins } from './newest-wins.js';
import { ioBuffer } from '../io/buffers.js';

/** A stream of resolved extents: after next() returns true, `table` row `row` holds the extent. */
export interface ExtentStream {
  next(): boolean;
  readonly table: ExtentTable;
  readonly row: number;
}

export interface NewestWinsOptions {
  /** Extents per in-memory run (default 262144, about 12 MiB). */
  runExtents?: number;
  tmpDir?: string;
}

/** Iterates over the rows of a table as a merge input. */
class TableInput implements MergeInput {
  private i = 0;
  constructor(readonly table: ExtentTable) {}
  get address(): number {
    return this.i < this.table.length ? this.table.address[this.i]! : Number.POSITIVE_INFINITY;
  }
  get blocks(): number {
    return this.i < this.table.length ? this.table.blocks[this.i]! : 0;
  }
  get row(): number {
    return this.i;
  }
  next(): void {
    this.i++;
  }
}

/** Reads a spilled run back, one extent at a time, through a read buffer. */
class SpilledInput implements MergeInput {
  readonly table = new ExtentTable(1);
  readonly row = 0;
  private readonly buf = ioBuffer(EXTENT_RECORD_BYTES * 8192);
  private readonly view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  private have = 0;
  private at = 0;
  private filePos = 0;
  private done = false;
  address = 0;
  blocks = 0;

  constructor(
    private readonly fd: number,
    private readonly file: string,
  ) {
    this.next();
  }

  next(): void {
    if (this.at >= this.have) this.refill();
    if (this.done) {
      this.address = Number.POSITIVE_INFINITY;
      this.blocks = 0;
      return;
    }
    this.table.clear();
    this.table.decodePush(this.view, this.at);
    this.at += EXTENT_RECORD_BYTES;
    this.address = this.table.address[0]!;
    this.blocks = this.table.blocks[0]!;
  }

  private refill(): void {
    let n: number;
    try {
      n = readSync(this.fd, this.buf, 0, this.buf.length, this.filePos);
    } catch (e) {
      throw ioError('read', this.file, e);
    }
    this.filePos += n;
    this.have = n - (n % EXTENT_RECORD_BYTES);
    this.at = 0;
    if (this.have === 0) this.done = true;
  }
}

export class NewestWinsCollector {
  /** The current run: push extents here in write order, then call afterPush(). */
  readonly table: ExtentTable;
  private readonly runExtents: number;
  private readonly tmpRoot: string;
  private tmpDir: string | null = null;
  private readonly runs: Array<{ fd: number; file: string }> = [];

  constructor(opts: NewestWinsOptions = {}) {
    this.runExtents = opts.runExtents ?? 262144;
    this.tmpRoot = opts.tmpDir ?? os.tmpdir();
    this.table = new ExtentTable(Math.min(this.runExtents, 65536));
  }

  /** Number of runs spilled to disk so far. */
  get spilledRuns(): number {
    return this.runs.length;
  }

  /** Spills the current run when it is full. */
  afterPush(): void {
    if (this.table.length >= this.runExtents) this.spill();
  }

  /** The resolved extents of everything pushed, in address order, without overlaps. */
  finish(): ExtentStream {
    const last = new ExtentTable(Math.max(16, this.table.length));
    resolveNewestWins(this.table, (t, i, a, b) => last.pushPart(t, i, a, b));
    this.table.clear();
    const inputs: Array<MergeInput & { table: ExtentTable; row: number }> = this.runs.map((r) => new SpilledInput(r.fd, r.file));
    inputs.push(new TableInput(last));
    const merger = new KwayMerger(inputs);
    const out = new ExtentTable(1);
    return {
      table: out,
      row: 0,
      next(): boolean {
        if (!merger.next()) return false;
        const inp = inputs[merger.input]!;
        out.clear();
        out.pushPart(inp.table, inp.row, merger.address, merger.blocks);
        return true;
      },
    };
  }

  /** Removes the spilled runs. */
  close(): void {
    for (const r of this.runs) closeSync(r.fd);
    this.runs.length = 0;
    if (this.tmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
    this.tmpDir = null;
  }

  private spill(): void {
    if (!this.tmpDir) {
      try {
        this.tmpDir = mkdtempSync(path.join(this.tmpRoot, 'blockwal-runs-'));
      } catch (e) {
        throw ioError('create temp dir', this.tmpRoot, e);
      }
    }
    const file = path.join(this.tmpDir, `run-${this.runs.length}`);
    const fd = openSync(file, 'w+');
    this.runs.push({ fd, file });
    const buf = ioBuffer(EXTENT_RECORD_BYTES * 8192);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    let used = 0;
    let pos = 0;
    const flush = () => {
      try {
        writeSync(fd, buf, 0, used, pos);
      } catch (e) {
        throw ioError('write', file, e);
      }
      pos += used;
      used = 0;
    };
    const one = new ExtentTable(1);
    resolveNewestWins(this.table, (t, i, a, b) => {
      one.clear();
      one.pushPart(t, i, a, b);
      one.encode(0, view, used);
      used += EXTENT_RECORD_BYTES;
      if (used === buf.length) flush();
    });
    if (used) flush();
    this.table.clear();
  }
}
