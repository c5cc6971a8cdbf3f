/**
 * Writing logpacks into a log device ring, as the WalB driver lays them out (walb-formats §3.4):
 * records are appended to the current pack; a write whose data would cross the ring end gets a
 * padding record covering the rest of the ring first, so that no IO's data ever wraps; a pack is
 * closed when its header is full, when total_io_size would pass its limit, or on request.
 */
import { writeSync } from 'node:fs';
import { ioError } from '../errors.js';
import { LOGICAL_BLOCK_SIZE, capacityLb, capacityPb } from './constants.js';
import { LogpackBuilder, encodeLogpackHeader, nextLogpackLsid, type LogpackHeader } from './logpack.js';
import { encodeSuperSector, lsidToPb, type LogDeviceLayout, type SuperSector } from './super-sector.js';

export interface ClosedPack {
  header: LogpackHeader;
  /**
   * The pack's data blocks in lsid order (total_io_size pb in all), padding blocks included: the
   * callers' buffers as given (a record whose size is not a whole pb gets a padded copy).
   */
  chunks: Uint8Array[];
}

/** The data of a closed pack as one buffer. */
export function closedPackData(p: ClosedPack): Uint8Array {
  return concat(p.chunks, p.header.totalIoSize * p.header.pbs);
}

/** Builds logpacks for a ring of `ringBufferSize` pb, starting at `lsid`. Pure: no I/O. */
export class LogpackAssembler {
  private builder: LogpackBuilder;
  private chunks: Uint8Array[] = [];

  constructor(
    readonly pbs: number,
    readonly salt: number,
    readonly ringBufferSize: number,
    lsid: number,
    /** Largest total_io_size of a pack in pb (the driver's max_logpack_kb); 0 = 65535. */
    private readonly maxPackPb = 0,
  ) {
    this.builder = this.newBuilder(lsid);
  }

  /** lsid of the pack being built. */
  get packLsid(): number {
    return this.builder.header.logpackLsid;
  }

  get isEmpty(): boolean {
    return this.builder.isEmpty;
  }

  /** Records in the open pack. */
  get recordCount(): number {
    return this.builder.header.records.length;
  }

  /** lsid right after the data added so far (the log's end if the pack were closed now). */
  get endLsid(): number {
    return this.builder.isEmpty ? this.builder.header.logpackLsid : this.builder.nextDataLsid;
  }

  /**
   * Adds a normal write (data: ioSize*512 bytes). Returns the packs closed to make room (0, 1 or
   * 2: one when the pack is full, one when a padding record filled it).
   */
  addWrite(offset: number, ioSize: number, data: Uint8Array): ClosedPack[] {
    const closed: ClosedPack[] = [];
    const pb = capacityPb(this.pbs, ioSize);
    if (pb > this.ringBufferSize - 1) throw new RangeError(`an IO of ${ioSize} lb does not fit in a ring of ${this.ringBufferSize} pb`);
    if (!this.builder.canAddData(ioSize)) closed.push(this.close());
    const x = this.builder.nextDataLsid;
    const left = this.ringBufferSize - (x % this.ringBufferSize);
    if (left < pb) {
      // Padding to the ring end; the IO then starts at ring offset 0. A pack holds one padding at
      // most: one that already wrapped is closed first.
      if (this.builder.header.nPadding > 0) return [...closed, this.close(), ...this.addWrite(offset, ioSize, data)];
      this.builder.addPadding(capacityLb(this.pbs, left));
      this.chunks.push(new Uint8Array(left * this.pbs));
      if (!this.builder.canAddData(ioSize)) closed.push(this.close());
    }
    this.builder.addNormal(offset, ioSize, data);
    const bytes = pb * this.pbs;
    const block = data.length === bytes ? data : padTo(data.subarray(0, ioSize * LOGICAL_BLOCK_SIZE), bytes);
    this.chunks.push(block);
    return closed;
  }

  /** Adds a discard (no data). Returns the pack closed to make room, if any. */
  addDiscard(offset: number, ioSize: number): ClosedPack[] {
    const closed: ClosedPack[] = [];
    if (!this.builder.canAddDiscard()) closed.push(this.close());
    this.builder.addDiscard(offset, ioSize);
    return closed;
  }

  /** Closes the current pack (must not be empty) and starts the next one right after it. */
  close(): ClosedPack {
    if (this.builder.isEmpty) throw new RangeError('closing an empty logpack');
    const header = this.builder.header;
    this.builder.encode(); // computes the checksum
    const chunks = this.chunks;
    this.chunks = [];
    this.builder = this.newBuilder(nextLogpackLsid(header));
    return { header, chunks };
  }

  private newBuilder(lsid: number): LogpackBuilder {
    return new LogpackBuilder(this.pbs, this.salt, lsid, this.maxPackPb > 0 ? Math.min(this.maxPackPb, 65535) : 65535);
  }
}

function padTo(data: Uint8Array, bytes: number): Uint8Array {
  const b = new Uint8Array(bytes);
  b.set(data);
  return b;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.length === total) return parts[0]!;
  const b = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    b.set(p, off);
    off += p.length;
  }
  return b;
}

/** Writes closed packs and super sectors to a log device (file or block device). */
export class LogDeviceWriter {
  constructor(
    private readonly fd: number,
    readonly file: string,
    readonly layout: LogDeviceLayout,
  ) {}

  /** Writes a pack's header and data at their ring positions (each run split at the ring end). */
  writePack(p: ClosedPack): void {
    const { pbs } = this.layout;
    this.writeBlocks(p.header.logpackLsid, encodeLogpackHeader(p.header, new Uint8Array(pbs)));
    if (p.header.totalIoSize > 0) this.writeBlocks(p.header.logpackLsid + 1, closedPackData(p));
  }

  /** Writes consecutive pb starting at lsid, wrapping at the ring end. */
  writeBlocks(lsid: number, blocks: Uint8Array): void {
    const { pbs, ringBufferSize } = this.layout;
    let done = 0;
    const n = blocks.length / pbs;
    while (done < n) {
      const l = lsid + done;
      const run = Math.min(n - done, ringBufferSize - (l % ringBufferSize));
      this.pwrite(blocks.subarray(done * pbs, (done + run) * pbs), lsidToPb(this.layout, l) * pbs);
      done += run;
    }
  }

  writeSuper(s: SuperSector): void {
    this.pwrite(encodeSuperSector(s), this.layout.superPb * this.layout.pbs);
  }

  private pwrite(b: Uint8Array, pos: number): void {
    let off = 0;
    while (off < b.length) {
      try {
        off += writeSync(this.fd, b, off, b.length - off, pos + off);
      } catch (e) {
        throw ioError('write', this.file, e);
      }
    }
  }
}
