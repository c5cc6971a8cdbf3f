/**
 * Reading logpacks from a log device (or an image of one), walb-formats §2 and §3.6.
 *
 * The super sector is read at byte 4096 and its own physical_bs is used (walb-tools assume 512
 * for regular files; blockwal reads pbs-4096 images too). Each pb is mapped through the ring
 * independently, so packs that wrap around the ring end are read correctly.
 *
 * End of log: a block that is not a valid logpack header with the expected lsid ends the log
 * (as in the WalB driver). A record whose data checksum fails truncates its pack there (the
 * pack keeps the records before it) and the log ends after that pack.
 */
import { readSync } from 'node:fs';
import { UnexpectedEofError, ioError } from '../errors.js';
import { walbChecksum } from './checksum.js';
import { LOGICAL_BLOCK_SIZE, SUPER_SECTOR_BYTE_OFFSET, PAGE_SIZE } from './constants.js';
import { LogRecordKind, decodeLogpackHeader, nextLogpackLsid, recordDataPb, shrinkLogpack, type LogpackHeader } from './logpack.js';
import { logDeviceLayout, lsidToPb, parseSuperSector, type LogDeviceLayout, type SuperSector } from './super-sector.js';
import { ioBuffer } from '../io/buffers.js';

export interface LogpackRead {
  header: LogpackHeader;
  /** total_io_size pb of data in lsid order (after a shrink, only the kept records' data). */
  data: Uint8Array;
  /** Set when the pack was truncated at a bad data checksum: the log ends after this pack. */
  truncatedAt?: { record: number; reason: string };
}

export type LogEnd = { lsid: number; reason: string };

const WINDOW_BYTES = 8 * 1024 * 1024;

export class LogDeviceReader {
  readonly super: SuperSector;
  readonly layout: LogDeviceLayout;
  private window: Buffer;
  private winLsid = 0; // lsid of window[0]
  private winPb = 0; // pb held in the window

  constructor(
    private readonly fd: number,
    readonly file: string,
  ) {
    const first = this.readAt(SUPER_SECTOR_BYTE_OFFSET, PAGE_SIZE, 'super sector');
    if (first.length < 512) throw new UnexpectedEofError('log device too small: no super sector at byte 4096', { file });
    this.super = parseSuperSector(first, { file });
    this.layout = logDeviceLayout(this.super.pbs, this.super.ringBufferSize, this.super.metadataSize);
    this.window = ioBuffer(Math.max(WINDOW_BYTES, this.super.pbs * 2));
  }

  get pbs(): number {
    return this.super.pbs;
  }

  /**
   * Reads the logpack at `lsid`: its header and data, checksums verified. Returns a LogEnd when
   * there is no valid pack at that lsid.
   */
  readPack(lsid: number): LogpackRead | LogEnd {
    const pbs = this.pbs;
    const block = this.blocks(lsid, 1);
    const h = decodeLogpackHeader(block, pbs, this.super.salt, lsid);
    if (typeof h === 'string') return { lsid, reason: h };
    // Copy: the data read below may move the window under the header block.
    const header = h;
    const data = this.blocks(lsid + 1, header.totalIoSize);
    let pb = 0;
    for (let i = 0; i < header.records.length; i++) {
      const r = header.records[i]!;
      const n = recordDataPb(pbs, r);
      if (r.kind === LogRecordKind.Normal) {
        const bytes = data.subarray(pb * pbs, pb * pbs + r.ioSize * LOGICAL_BLOCK_SIZE);
        if (walbChecksum(bytes, this.super.salt) !== r.checksum) {
          if (i === 0) return { lsid, reason: `record 0 of the logpack at lsid ${lsid}: IO checksum mismatch` };
          const shrunk = shrinkLogpack(header, i);
          return {
            header: shrunk,
            data: data.subarray(0, shrunk.totalIoSize * pbs),
            truncatedAt: { record: i, reason: `IO checksum mismatch (address ${r.offset}, ${r.ioSize} lb)` },
          };
        }
      }
      pb += n;
    }
    return { header, data };
  }

  /**
   * Iterates over the packs from `beginLsid` (default: oldest lsid) while lsid < endLsid, stopping
   * at the end of the log. Returns how the log ended.
   */
  *packs(beginLsid = this.super.oldestLsid, endLsid = Number.POSITIVE_INFINITY): Generator<LogpackRead, LogEnd> {
    let lsid = beginLsid;
    while (lsid < endLsid) {
      const p = this.readPack(lsid);
      if ('reason' in p) return p;
      yield p;
      lsid = nextLogpackLsid(p.header);
      if (p.truncatedAt) return { lsid, reason: `logpack at lsid ${p.header.logpackLsid} truncated at record ${p.truncatedAt.record}: ${p.truncatedAt.reason}` };
    }
    return { lsid, reason: 'requested end reached' };
  }

  /** n pb starting at lsid, contiguous in lsid order (a view valid until the next read). */
  private blocks(lsid: number, n: number): Uint8Array {
    const pbs = this.pbs;
    if (lsid >= this.winLsid && lsid + n <= this.winLsid + this.winPb) {
      const off = (lsid - this.winLsid) * pbs;
      return this.window.subarray(off, off + n * pbs);
    }
    const want = Math.max(n, Math.floor(this.window.length / pbs));
    if (this.window.length < want * pbs) this.window = ioBuffer(want * pbs);
    // Fill the window from lsid, one contiguous ring run at a time.
    let got = 0;
    const ring = this.layout.ringBufferSize;
    while (got < want) {
      const l = lsid + got;
      const runPb = Math.min(want - got, ring - (l % ring));
      const bytes = this.readInto(this.window, got * pbs, lsidToPb(this.layout, l) * pbs, runPb * pbs);
      const pbRead = Math.floor(bytes / pbs);
      got += pbRead;
      if (pbRead < runPb) break; // end of a short image: whatever was read is all there is
    }
    this.winLsid = lsid;
    this.winPb = got;
    if (got < n) {
      throw new UnexpectedEofError(`log device image ends inside lsid ${lsid + got} (ring position ${lsidToPb(this.layout, lsid + got)} pb)`, { file: this.file, lsid: lsid + got });
    }
    return this.window.subarray(0, n * pbs);
  }

  private readAt(position: number, length: number, what: string): Buffer {
    const b = Buffer.alloc(length);
    const n = this.readInto(b, 0, position, length, what);
    return b.subarray(0, n);
  }

  private readInto(buf: Buffer, off: number, position: number, length: number, what = 'log device'): number {
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(this.fd, buf, off + done, length - done, position + done);
      } catch (e) {
        throw ioError(`read ${what}`, this.file, e);
      }
      if (n === 0) break;
      done += n;
    }
    return done;
  }
}
