/**
 * An in-memory NbdExport, for tests and as the baseline when measuring the server: storage is a
 * sparse array of 64 KiB pages allocated on first write (zero pages read as zeros), so a large
 * export costs only what is written. Trim and write-zeroes both make the range read as zeros
 * (whole pages are freed unless noHole). Reads copy (into the server's pooled buffer through
 * readInto, or a fresh one through read): a reply must not change if a later write lands before
 * the socket sends it.
 *
 * A `hook` runs before every operation and may delay it or throw, to test error paths and
 * concurrency; counters record flushes and FUA requests.
 */
import { NBD_EINVAL, NbdError, type NbdExport } from './export.js';

const PAGE_SIZE = 1 << 16;

export type MemoryExportOpKind = 'read' | 'write' | 'flush' | 'trim' | 'writeZeroes';

export interface MemoryExportOp {
  kind: MemoryExportOpKind;
  offset: number;
  length: number;
  fua: boolean;
}

export interface MemoryExportOptions {
  name: string;
  /** Bytes; must be a multiple of the block sizes. */
  size: number;
  description?: string;
  readOnly?: boolean;
  /** Default true: one shared memory, so a flush anywhere covers everything. */
  multiConn?: boolean;
  /** Default 512. */
  minBlockSize?: number;
  /** Default 4096. */
  preferredBlockSize?: number;
  /** Default 32 MiB. */
  maxPayload?: number;
  /** Default minBlockSize. */
  writeAlignment?: number;
  /** Runs before each operation; may return a promise (delay) or throw/reject (fail the operation). */
  hook?: (op: MemoryExportOp) => void | Promise<void>;
}

export class MemoryExport implements NbdExport {
  readonly name: string;
  readonly size: number;
  readonly description: string | undefined;
  readonly readOnly: boolean;
  readonly multiConn: boolean;
  readonly minBlockSize: number;
  readonly preferredBlockSize: number;
  readonly maxPayload: number;
  readonly writeAlignment: number;
  /** Operation counters (tests check that flags reach the export). */
  readonly counters = { reads: 0, writes: 0, flushes: 0, trims: 0, writeZeroes: 0, fua: 0, noHole: 0 };
  hook: ((op: MemoryExportOp) => void | Promise<void>) | undefined;
  private readonly pages: (Buffer | undefined)[];

  constructor(opts: MemoryExportOptions) {
    this.name = opts.name;
    this.size = opts.size;
    this.description = opts.description;
    this.readOnly = opts.readOnly ?? false;
    this.multiConn = opts.multiConn ?? true;
    this.minBlockSize = opts.minBlockSize ?? 512;
    this.preferredBlockSize = opts.preferredBlockSize ?? 4096;
    this.maxPayload = opts.maxPayload ?? 32 * 1024 * 1024;
    this.writeAlignment = opts.writeAlignment ?? this.minBlockSize;
    this.hook = opts.hook;
    if (!Number.isSafeInteger(opts.size) || opts.size < 0 || opts.size % this.minBlockSize !== 0) {
      throw new RangeError(`memory export ${opts.name}: size ${opts.size} is not a multiple of ${this.minBlockSize}`);
    }
    this.pages = new Array<Buffer | undefined>(Math.ceil(opts.size / PAGE_SIZE)).fill(undefined);
  }

  /** Bytes of pages allocated (for tests and memory checks). */
  get allocatedBytes(): number {
    let n = 0;
    for (const p of this.pages) if (p) n += PAGE_SIZE;
    return n;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    this.counters.reads++;
    return this.run({ kind: 'read', offset, length, fua: false }, () => this.readSync(offset, length));
  }

  readInto(offset: number, dest: Uint8Array): Promise<void> {
    this.counters.reads++;
    return this.run({ kind: 'read', offset, length: dest.length, fua: false }, () => this.readSyncInto(offset, dest));
  }

  write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    this.counters.writes++;
    if (fua) this.counters.fua++;
    return this.run({ kind: 'write', offset, length: data.length, fua }, () => this.writeSync(offset, data));
  }

  flush(): Promise<void> {
    this.counters.flushes++;
    return this.run({ kind: 'flush', offset: 0, length: 0, fua: false }, () => undefined);
  }

  trim(offset: number, length: number, fua: boolean): Promise<void> {
    this.counters.trims++;
    if (fua) this.counters.fua++;
    return this.run({ kind: 'trim', offset, length, fua }, () => this.zeroSync(offset, length, false));
  }

  writeZeroes(offset: number, length: number, opts: { fua: boolean; noHole: boolean }): Promise<void> {
    this.counters.writeZeroes++;
    if (opts.fua) this.counters.fua++;
    if (opts.noHole) this.counters.noHole++;
    return this.run({ kind: 'writeZeroes', offset, length, fua: opts.fua }, () => this.zeroSync(offset, length, opts.noHole));
  }

  private run<T>(op: MemoryExportOp, act: () => T): Promise<T> {
    const hook = this.hook;
    if (!hook) {
      try {
        return Promise.resolve(act());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return Promise.resolve()
      .then(() => hook(op))
      .then(act);
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new NbdError(NBD_EINVAL, `range ${offset}+${length} outside the export`);
    }
  }

  /** Synchronous read (a fresh buffer). */
  readSync(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.readSyncInto(offset, out);
    return out;
  }

  /** Synchronous read into `dest` (all of it). */
  readSyncInto(offset: number, dest: Uint8Array): void {
    const length = dest.length;
    this.check(offset, length);
    const out = Buffer.isBuffer(dest) ? dest : Buffer.from(dest.buffer, dest.byteOffset, dest.byteLength);
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const idx = Math.floor(pos / PAGE_SIZE);
      const inPage = pos - idx * PAGE_SIZE;
      const k = Math.min(PAGE_SIZE - inPage, length - done);
      const page = this.pages[idx];
      if (page) page.copy(out, done, inPage, inPage + k);
      else out.fill(0, done, done + k);
      done += k;
    }
  }

  /** Synchronous write (copies `data`). */
  writeSync(offset: number, data: Uint8Array): void {
    this.check(offset, data.length);
    let done = 0;
    while (done < data.length) {
      const pos = offset + done;
      const idx = Math.floor(pos / PAGE_SIZE);
      const inPage = pos - idx * PAGE_SIZE;
      const k = Math.min(PAGE_SIZE - inPage, data.length - done);
      let page = this.pages[idx];
      if (!page) {
        page = Buffer.alloc(PAGE_SIZE);
        this.pages[idx] = page;
      }
      page.set(data.subarray(done, done + k), inPage);
      done += k;
    }
  }

  /** Zeroes a range; whole pages are freed unless keepAllocated. */
  zeroSync(offset: number, length: number, keepAllocated: boolean): void {
    this.check(offset, length);
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const idx = Math.floor(pos / PAGE_SIZE);
      const inPage = pos - idx * PAGE_SIZE;
      const k = Math.min(PAGE_SIZE - inPage, length - done);
      const page = this.pages[idx];
      if (page) {
        if (k === PAGE_SIZE && !keepAllocated) this.pages[idx] = undefined;
        else page.fill(0, inPage, inPage + k);
      } else if (keepAllocated) {
        this.pages[idx] = Buffer.alloc(PAGE_SIZE);
      }
      done += k;
    }
  }
}
