/**
 * Reading logpacks by lsid from a log device ring, through any positioned-read function (a WAL
 * device's log file, a file descriptor, an O_DIRECT block device). Every header and record data
 * checksum is checked. Unlike core's LogDeviceReader nothing is read ahead or cached: the log
 * grows under us, and a block read before it was written must never be taken for it later.
 */
import {
  ChecksumMismatchError,
  FormatError,
  LOGICAL_BLOCK_SIZE,
  LogRecordKind,
  decodeLogpackHeader,
  lsidToPb,
  nextLogpackLsid,
  readBuffer,
  recordDataPb,
  walbChecksum,
  type LogDeviceLayout,
  type LogpackHeader,
} from '@blockwal/core';
import type { LogpackData } from './source.js';

/** Fills buf from a byte position of the log device. */
export type ReadAt = (buf: Uint8Array, position: number) => Promise<void>;

export interface RingParams {
  layout: LogDeviceLayout;
  salt: number;
  /** For error messages. */
  file: string;
  /** Buffer allocator (aligned buffers for O_DIRECT). */
  alloc?: (bytes: number) => Uint8Array;
}

export class LogRing {
  private readonly alloc: (bytes: number) => Uint8Array;

  constructor(
    private readonly readAt: ReadAt,
    private readonly p: RingParams,
  ) {
    this.alloc = p.alloc ?? readBuffer;
  }

  get pbs(): number {
    return this.p.layout.pbs;
  }

  /** The header at lsid, or the reason there is no valid one. */
  async header(lsid: number): Promise<LogpackHeader | string> {
    const b = this.alloc(this.pbs);
    await this.blocks(lsid, 1, b);
    return decodeLogpackHeader(b, this.pbs, this.p.salt, lsid);
  }

  /** The pack at lsid with its data, checksums verified; the reason when there is none. */
  async pack(lsid: number): Promise<LogpackData | string> {
    const h = await this.header(lsid);
    if (typeof h === 'string') return h;
    const data = this.alloc(h.totalIoSize * this.pbs);
    if (h.totalIoSize > 0) await this.blocks(lsid + 1, h.totalIoSize, data);
    const bad = badRecord(h, data);
    if (bad !== undefined) return `record ${bad} of the logpack at lsid ${lsid}: IO checksum mismatch`;
    return { header: h, data };
  }

  /** The packs of [begin, end); a gap, a bad checksum or a pack passing `end` is an error. */
  async *packs(begin: number, end: number): AsyncGenerator<LogpackData> {
    let lsid = begin;
    while (lsid < end) {
      const h = await this.header(lsid);
      if (typeof h === 'string') throw new FormatError(`no valid logpack in the durable log: ${h}`, { file: this.p.file, lsid });
      const next = nextLogpackLsid(h);
      if (next > end) throw new FormatError(`the logpack at lsid ${lsid} ends at ${next}, past the end ${end} of the range`, { file: this.p.file, lsid });
      const data = this.alloc(h.totalIoSize * this.pbs);
      if (h.totalIoSize > 0) await this.blocks(lsid + 1, h.totalIoSize, data);
      const bad = badRecord(h, data);
      if (bad !== undefined) {
        const r = h.records[bad]!;
        throw new ChecksumMismatchError(`IO checksum mismatch (address ${r.offset}, ${r.ioSize} lb) in the durable log`, { file: this.p.file, lsid, record: bad });
      }
      yield { header: h, data };
      lsid = next;
    }
  }

  /** See LogSource.lastBoundary. */
  async lastBoundary(begin: number, limit: number): Promise<number> {
    let lsid = begin;
    for (;;) {
      const h = await this.header(lsid);
      if (typeof h === 'string') throw new FormatError(`no valid logpack in the durable log: ${h}`, { file: this.p.file, lsid });
      const next = nextLogpackLsid(h);
      if (next > limit) return lsid === begin ? next : lsid;
      lsid = next;
      if (lsid === limit) return lsid;
    }
  }

  /** n pb from lsid into dest, one contiguous ring run at a time. */
  private async blocks(lsid: number, n: number, dest: Uint8Array): Promise<void> {
    const { pbs, ringBufferSize } = this.p.layout;
    let done = 0;
    while (done < n) {
      const l = lsid + done;
      const run = Math.min(n - done, ringBufferSize - (l % ringBufferSize));
      await this.readAt(dest.subarray(done * pbs, (done + run) * pbs), lsidToPb(this.p.layout, l) * pbs);
      done += run;
    }
  }
}

/** Index of the first normal record whose data checksum fails, if any. */
function badRecord(h: LogpackHeader, data: Uint8Array): number | undefined {
  let pb = 0;
  for (let i = 0; i < h.records.length; i++) {
    const r = h.records[i]!;
    if (r.kind === LogRecordKind.Normal) {
      const bytes = data.subarray(pb * h.pbs, pb * h.pbs + r.ioSize * LOGICAL_BLOCK_SIZE);
      if (walbChecksum(bytes, h.salt) !== r.checksum) return i;
    }
    pb += recordDataPb(h.pbs, r);
  }
  return undefined;
}
