/**
 * The virtual full image of a snapshot, pulled chunk by chunk: the base image with the chain's
 * diffs overlaid through the k-way merge (newest wins), computed on the fly without writing
 * anything (walb-tools-architecture §6.2). Discards and all-zero records read as zeros, as restore
 * writes them. Memory: one chunk plus one record per diff.
 *
 * Every file is opened when the reader is made, so a diff registered or a full sync finished
 * meanwhile does not change what is read (open descriptors keep replaced files readable).
 */
import { closeSync, openSync } from 'node:fs';
import { DiffKind, KwayMerger, LOGICAL_BLOCK_SIZE, WdiffInput, ioBuffer, ioError, openWdiff, preadExact, UsageError, type WdiffSource } from '@blockwal/core';
import type { Archive } from './archive.js';
import type { Volume } from './volume.js';

interface Piece {
  input: number;
  start: number; // byte offset in the image
  end: number;
  /** Byte offset of `start` inside the winning record's data. */
  skip: number;
  normal: boolean;
}

export class VirtualFullReader {
  private readonly inputs: WdiffInput[];
  private readonly merger: KwayMerger;
  private pos = 0;
  private piece: Piece | null = null;
  private exhausted = false;

  constructor(
    private readonly baseFd: number,
    readonly size: number,
    private readonly sources: WdiffSource[],
    private readonly names: string[],
    private readonly baseName: string,
  ) {
    this.inputs = sources.map((s) => new WdiffInput(s));
    this.merger = new KwayMerger(this.inputs);
  }

  /** Bytes returned so far. */
  get position(): number {
    return this.pos;
  }

  /** The next `max` bytes (fewer at the end), or null after the last byte. */
  read(max: number): Buffer | null {
    const n = Math.min(max, this.size - this.pos);
    if (n <= 0) return null;
    const out = ioBuffer(n); // zero-filled and page-aligned: base reads copy fast (core/src/io/buffers.ts)
    let filled = 0;
    while (filled < n) {
      const p = this.current();
      if (this.pos < p.start) {
        const k = Math.min(p.start - this.pos, n - filled);
        preadExact(this.baseFd, out.subarray(filled, filled + k), k, this.pos, this.baseName);
        filled += k;
        this.pos += k;
        continue;
      }
      const k = Math.min(p.end - this.pos, n - filled);
      if (p.normal) {
        const at = p.skip + (this.pos - p.start);
        out.set(this.inputs[p.input]!.recordData().subarray(at, at + k), filled);
      } // zeros otherwise: out is zero-filled
      filled += k;
      this.pos += k;
      if (this.pos === p.end) this.piece = null;
    }
    return out;
  }

  /** The piece the next bytes come from; past the last diff record, the end of the image. */
  private current(): Piece {
    if (this.piece) return this.piece;
    const m = this.merger;
    if (this.exhausted || !m.next()) {
      this.exhausted = true;
      return (this.piece = { input: -1, start: this.size, end: this.size, skip: 0, normal: false });
    }
    const inp = this.inputs[m.input]!;
    const start = m.address * LOGICAL_BLOCK_SIZE;
    const end = start + m.blocks * LOGICAL_BLOCK_SIZE;
    if (end > this.size) {
      throw new UsageError(`${this.names[m.input]}: a record at address ${m.address} (${m.blocks} lb) lies beyond the end of the base image (${this.size} bytes)`);
    }
    return (this.piece = { input: m.input, start, end, skip: m.skip * LOGICAL_BLOCK_SIZE, normal: inp.view!.kind === DiffKind.Normal });
  }

  close(): void {
    for (const s of this.sources) s.close();
    closeSync(this.baseFd);
  }
}

/** Opens the virtual full image of restorable `gid` (RejectedError not-found otherwise). */
export function openSnapshot(archive: Archive, vol: Volume, gid: number): { reader: VirtualFullReader; diffs: number } {
  const diffs = vol.diffsToGid(gid);
  const size = vol.record.sizeBytes!;
  const baseFile = archive.store.basePath(vol.name);
  const sources: WdiffSource[] = [];
  let baseFd = -1;
  try {
    baseFd = openSync(baseFile, 'r');
    for (const d of diffs) sources.push(openWdiff(archive.store.diffPath(vol.name, d.name)));
    return { reader: new VirtualFullReader(baseFd, size, sources, diffs.map((d) => d.name), baseFile), diffs: diffs.length };
  } catch (e) {
    for (const s of sources) s.close();
    if (baseFd >= 0) closeSync(baseFd);
    throw e instanceof Error && 'code' in e && typeof (e as NodeJS.ErrnoException).errno === 'number' ? ioError('open', baseFile, e) : e;
  }
}
