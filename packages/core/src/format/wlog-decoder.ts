/**
 * A push decoder for wlog streams (walb-formats §5): feed it bytes in chunks of any size, it
 * calls a visitor for the file header, each logpack and each record, verifying every checksum.
 *
 * Rules (stricter than walb-tools where they silently drop data):
 *  - a block that is neither a valid logpack header with the expected lsid nor the end marker is
 *    an error (walb-tools' wlog-show treats it as the end of the log and drops the rest);
 *  - a record whose data checksum fails is an error;
 *  - end of input exactly at a pack boundary is accepted as the end (as walb-tools does); inside a
 *    pack it is an UnexpectedEofError;
 *  - after an end marker another wlog may follow (concatenated wlogs), which must continue the
 *    previous one: same uuid and pbs, begin lsid = the previous real end.
 * Data views handed to the visitor are valid only during the call.
 */
import { ChecksumMismatchError, FormatError, UnexpectedEofError } from '../errors.js';
import { walbChecksum } from './checksum.js';
import { LOGICAL_BLOCK_SIZE, WALBLOG_HEADER_SIZE, capacityPb } from './constants.js';
import { LogRecordKind, decodeLogpackHeader, isEndMarker, nextLogpackLsid, type LogRecord, type LogpackHeader } from './logpack.js';
import { parseWlogHeader, type WlogHeader } from './wlog-header.js';
import { uuidToHex } from './binary.js';
import { ioBuffer } from '../io/buffers.js';

export interface WlogVisitor {
  header?(h: WlogHeader, fileOffset: number): void;
  pack?(pack: LogpackHeader, fileOffset: number): void;
  /**
   * Every record in log order. `data` is the io_size*512 meaningful bytes of a normal record and
   * null for discards and paddings; `dataOffset` is the stream offset of the record's data.
   */
  record(pack: LogpackHeader, index: number, rec: LogRecord, data: Uint8Array | null, dataOffset: number): void;
  /** Called at each end marker (or at end of input on a pack boundary) with the real end lsid. */
  end?(endLsid: number): void;
}

const enum State {
  FileHeader,
  PackHeader,
  RecordData,
  AfterEnd,
}

export class WlogDecoder {
  private state = State.FileHeader;
  private need = WALBLOG_HEADER_SIZE;
  private pending: Buffer = ioBuffer(64 * 1024);
  private pendingLen = 0;
  /** Stream offset of the next byte to be consumed by a unit (pending bytes not included). */
  private offset = 0;
  private header: WlogHeader | null = null;
  private pack: LogpackHeader | null = null;
  private packOffset = 0;
  private recIdx = 0;
  private lsid = 0; // expected lsid of the next logpack
  private finished = false;
  private packsSeen = 0;

  constructor(
    private readonly visitor: WlogVisitor,
    private readonly file?: string,
  ) {}

  /** The last wlog header read. */
  get wlogHeader(): WlogHeader | null {
    return this.header;
  }

  /** The lsid right after the last complete logpack. */
  get endLsid(): number {
    return this.lsid;
  }

  push(chunk: Uint8Array): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      const need = this.need;
      if (this.pendingLen === 0 && len - pos >= need) {
        const unit = chunk.subarray(pos, pos + need);
        pos += need;
        this.consume(unit);
        continue;
      }
      if (this.pending.length < need) {
        const bigger = ioBuffer(Math.max(need, this.pending.length * 2));
        this.pending.copy(bigger, 0, 0, this.pendingLen);
        this.pending = bigger;
      }
      const k = Math.min(need - this.pendingLen, len - pos);
      this.pending.set(chunk.subarray(pos, pos + k), this.pendingLen);
      this.pendingLen += k;
      pos += k;
      if (this.pendingLen === need) {
        this.pendingLen = 0;
        this.consume(this.pending.subarray(0, need));
      }
    }
  }

  /** Signals end of input; throws when it falls inside a structure. */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    const at = { file: this.file, offset: this.offset + this.pendingLen };
    switch (this.state) {
      case State.FileHeader:
        throw new UnexpectedEofError(this.pendingLen === 0 ? 'empty input: no wlog file header' : 'end of input inside the wlog file header', at);
      case State.PackHeader:
        if (this.pendingLen > 0) throw new UnexpectedEofError(`end of input inside the logpack header at lsid ${this.lsid}`, { ...at, lsid: this.lsid });
        this.visitor.end?.(this.lsid); // no end marker: accepted, as walb-tools does
        return;
      case State.RecordData:
        throw new UnexpectedEofError(`end of input inside the data of the logpack at lsid ${this.pack!.logpackLsid} (record ${this.recIdx})`, {
          ...at,
          lsid: this.pack!.logpackLsid,
          record: this.recIdx,
        });
      case State.AfterEnd:
        if (this.pendingLen > 0) throw new UnexpectedEofError('end of input inside a wlog file header after the end marker', at);
        return;
    }
  }

  private consume(unit: Uint8Array): void {
    const unitOffset = this.offset;
    this.offset += unit.length;
    switch (this.state) {
      case State.FileHeader:
      case State.AfterEnd:
        return this.onFileHeader(unit, unitOffset);
      case State.PackHeader:
        return this.onPackHeader(unit, unitOffset);
      case State.RecordData:
        return this.onRecordData(unit, unitOffset);
    }
  }

  private onFileHeader(unit: Uint8Array, at: number): void {
    const h = parseWlogHeader(unit, { file: this.file, offset: at });
    const prev = this.header;
    if (prev) {
      const where = { file: this.file, offset: at };
      if (uuidToHex(prev.uuid) !== uuidToHex(h.uuid)) throw new FormatError(`concatenated wlog has another uuid (${uuidToHex(h.uuid)} after ${uuidToHex(prev.uuid)})`, where);
      if (prev.pbs !== h.pbs) throw new FormatError(`concatenated wlog has another pbs (${h.pbs} after ${prev.pbs})`, where);
      if (h.beginLsid !== this.lsid) throw new FormatError(`concatenated wlog begins at lsid ${h.beginLsid}, not where the previous ended (${this.lsid})`, where);
    }
    this.header = h;
    this.lsid = h.beginLsid;
    this.visitor.header?.(h, at);
    this.state = State.PackHeader;
    this.need = h.pbs;
  }

  private onPackHeader(unit: Uint8Array, at: number): void {
    const h = this.header!;
    if (isEndMarker(unit)) {
      if (walbChecksum(unit, h.salt) !== 0) throw new ChecksumMismatchError('wlog end marker checksum mismatch', { file: this.file, offset: at, lsid: this.lsid });
      this.visitor.end?.(this.lsid);
      this.state = State.AfterEnd;
      this.need = WALBLOG_HEADER_SIZE;
      return;
    }
    const pack = decodeLogpackHeader(unit, h.pbs, h.salt, this.lsid);
    if (typeof pack === 'string') {
      throw new FormatError(`invalid logpack header at lsid ${this.lsid} (pack ${this.packsSeen}): ${pack}`, {
        file: this.file,
        offset: at,
        lsid: this.lsid,
      });
    }
    this.packsSeen++;
    this.pack = pack;
    this.packOffset = at;
    this.visitor.pack?.(pack, at);
    this.recIdx = 0;
    this.nextRecord();
  }

  /** Emits data-less records and sets `need` for the next record with data, or finishes the pack. */
  private nextRecord(): void {
    const pack = this.pack!;
    const recs = pack.records;
    while (this.recIdx < recs.length) {
      const r = recs[this.recIdx]!;
      if (r.kind === LogRecordKind.Discard) {
        this.visitor.record(pack, this.recIdx, r, null, this.offset);
        this.recIdx++;
        continue;
      }
      const bytes = capacityPb(pack.pbs, r.ioSize) * pack.pbs;
      if (bytes === 0) {
        // A padding record of 0 lb occupies no block.
        this.visitor.record(pack, this.recIdx, r, null, this.offset);
        this.recIdx++;
        continue;
      }
      this.state = State.RecordData;
      this.need = bytes;
      return;
    }
    this.lsid = nextLogpackLsid(pack);
    this.state = State.PackHeader;
    this.need = pack.pbs;
  }

  private onRecordData(unit: Uint8Array, at: number): void {
    const pack = this.pack!;
    const r = pack.records[this.recIdx]!;
    if (r.kind === LogRecordKind.Normal) {
      const data = unit.subarray(0, r.ioSize * LOGICAL_BLOCK_SIZE);
      const sum = walbChecksum(data, pack.salt);
      if (sum !== r.checksum) {
        throw new ChecksumMismatchError(
          `IO checksum mismatch in the logpack at lsid ${pack.logpackLsid}, record ${this.recIdx} (address ${r.offset}, ${r.ioSize} lb): stored 0x${r.checksum.toString(16)}, computed 0x${sum.toString(16)}`,
          { file: this.file, offset: at, lsid: pack.logpackLsid, record: this.recIdx },
        );
      }
      this.visitor.record(pack, this.recIdx, r, data, at);
    } else {
      this.visitor.record(pack, this.recIdx, r, null, at);
    }
    this.recIdx++;
    this.nextRecord();
  }
}
