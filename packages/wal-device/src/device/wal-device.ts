/**
 * The WAL device: a block device whose every write is first logged in WalB format (a logpack in
 * the ring of the log device) and then applied to the data device, exactly as the WalB driver
 * does. See DESIGN.md in this package for the ordering rules.
 *
 * Pipeline (one event loop, I/O on the thread pool):
 *  1. write / trim / write-zeroes requests join the open logpack (writes arriving in the same
 *     event-loop turn, or while the previous pack is being written, share a pack: group commit);
 *  2. packs are written to the log in lsid order (synchronous page-cache writes), and a request is
 *     acknowledged once its pack is in the log — volatile-cache semantics;
 *  3. packs are then applied to the data device, one at a time, in lsid order, once the log holding
 *     them is durable (the data device is never ahead of the durable log); until then their
 *     writes are kept in `pending` so that reads see them;
 *  4. FLUSH (and FUA) wait for an fdatasync of the log covering every acknowledged write
 *     (group commit: concurrent flushes share one sync); the log is also synced every
 *     logFlushIntervalMs so that the storage agent can ship it (permanent lsid);
 *  5. checkpoints (every checkpointIntervalMs, and when the ring needs the space) sync the data
 *     device and record written_lsid in the super sector: recovery redoes the log from there.
 */
import { randomBytes } from 'node:crypto';
import {
  LOGICAL_BLOCK_SIZE,
  LogpackAssembler,
  decodeLogpackHeader,
  encodeLogpackHeader,
  lsidToPb,
  ringBufferSizeFor,
  uuidToHex,
  type ClosedPack,
  type LogDeviceLayout,
  type SuperSector,
} from '@blockwal/core';
import { NBD_EINVAL, NBD_EIO, NBD_ESHUTDOWN, NbdError, type NbdExport } from '../nbd/export.js';
import type { DeviceFile } from './device-file.js';
import { LogSync } from './log-sync.js';
import { PendingWrites } from './pending.js';
import { recover, type RecoveryResult } from './recovery.js';
import { readSuper, writeSuperAsync } from './super-store.js';

export type OverflowPolicy = 'overflow' | 'block';

export interface WalDeviceOptions {
  /** Export name (default: the name in the super sector, else "vol"). */
  name?: string;
  /** What to do when the ring would overwrite log not yet shipped (default 'overflow', as WalB). */
  overflowPolicy?: OverflowPolicy;
  /** With 'block': how long writes may wait for the ring before the device overflows anyway. */
  blockTimeoutMs?: number;
  /** Interval of checkpoints (data sync + written_lsid in the super sector). Default 10 s, as WalB. */
  checkpointIntervalMs?: number;
  /** Interval of background log syncs (makes the log durable for shipping). Default 100 ms. */
  logFlushIntervalMs?: number;
  /**
   * Log written beyond the last log sync is bounded by this (then writes wait for a sync; a sync
   * starts on its own at half of it, so that under load one is always under way). Default 64 MiB.
   */
  logFlushBytes?: number;
  /** Largest data of one logpack (default 4 MiB). */
  maxPackBytes?: number;
  /** Writes acknowledged but not yet on the data device are bounded by this (default 128 MiB). */
  maxPendingBytes?: number;
  /**
   * Each time this much data has been applied to the data device in long runs (sequential writes,
   * WRITEBACK_MIN_RUN or more), those pages start going out (sync_file_range WRITE, not waited
   * for): the disk then takes them as they come instead of in one burst at the next checkpoint,
   * which held writes up for up to a second. Short random writes are left to the kernel and the
   * checkpoint (writing them out early costs the disk more operations than it saves). Default
   * 16 MiB; 0 leaves everything to the kernel's writeback.
   */
  writebackBytes?: number;
}

/** The lsids of the device (pb), as the WalB driver keeps them. */
export interface DeviceLsids {
  /** Everything below may be overwritten (set by the storage agent after a proxy's ack). */
  oldest: number;
  /** Checkpoint: everything below is on the (synced) data device; recovery starts here. */
  written: number;
  /** Everything below is on the data device (not necessarily synced). */
  applied: number;
  /** Everything below is durable in the log. */
  permanent: number;
  /** Everything below is written to the log (not necessarily durable). */
  completed: number;
  /** End of the log, the open pack included. */
  latest: number;
}

export interface DeviceStatus {
  name: string;
  sizeBytes: number;
  pbs: number;
  uuid: string;
  salt: number;
  ringBufferSize: number;
  lsids: DeviceLsids;
  /** latest - oldest, pb. */
  logUsagePb: number;
  logCapacityPb: number;
  overflow: boolean;
  frozen: boolean;
  /** Writes waiting because the ring is full (policy 'block'). */
  blockedOnRing: boolean;
  /** Seconds until the ring fills at the recent write rate (null when idle). */
  timeToOverflowSec: number | null;
  pendingBytes: number;
  stats: { writes: number; writeBytes: number; reads: number; readBytes: number; flushes: number; logSyncs: number; packs: number; checkpoints: number };
  /** How often the log stage waited, by reason. */
  stalls: { ring: number; checkpoint: number; syncBound: number; pendingMemory: number };
}

type DataOp = { zero: false; pos: number; data: Uint8Array } | { zero: true; pos: number; len: number; keep: boolean };

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
  fua: boolean;
}

interface Pack {
  closed: ClosedPack;
  end: number;
  /** Log write sequence number, once written to the log. */
  seq: number;
  bytes: number;
  ops: DataOp[];
  waiters: Waiter[];
}

/** Largest record: a normal IO is at most 65535 lb; discards up to 2^32 - 1 lb. */
const MAX_NORMAL_LB = 65535;
const MAX_DISCARD_LB = 0xffff_ffff;
/** Data operations applied in one batch at most. */
const MAX_DATA_BATCH_OPS = 8192;
/** Runs of data shorter than this are left to the kernel's writeback (see writebackBytes). */
const WRITEBACK_MIN_RUN = 128 * 1024;
/** Bytes beyond the last log sync may exceed logFlushBytes by one pack at most. */
export const DEFAULT_LOG_FLUSH_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_PACK_BYTES = 4 * 1024 * 1024;

export class WalDevice implements NbdExport {
  readonly readOnly = false;
  readonly multiConn = true; // one device object serves every connection: flushes cover all
  readonly minBlockSize = LOGICAL_BLOCK_SIZE;
  readonly preferredBlockSize = 4096;
  readonly writeAlignment = LOGICAL_BLOCK_SIZE;
  readonly maxPayload: number;
  readonly recovery: RecoveryResult;
  private readonly maxPackBytes: number;

  private sup: SuperSector;
  private readonly layout: LogDeviceLayout;
  private asm: LogpackAssembler;
  private openOps: DataOp[] = [];
  private openWaiters: Waiter[] = [];
  private readonly logQueue: Pack[] = [];
  private readonly dataQueue: Pack[] = [];
  private dataWriting = false;
  private kickScheduled = false;
  private readonly pending = new PendingWrites();
  private readonly logSync: LogSync;
  private failure: Error | null = null;
  private closing = false;
  private frozen = false;
  private frozenQueue: Array<() => void> = [];
  private freezeTimer: NodeJS.Timeout | null = null;
  private blockedSince: number | null = null;
  private blockTimer: NodeJS.Timeout | null = null;
  private checkpointRunning: Promise<void> | null = null;
  /** Long runs applied to the data device since the last writeback: (offset, length) pairs. */
  private writebackRanges: number[] = [];
  private writebackBytes = 0;
  private writebackRunning = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly listeners = new Set<(l: DeviceLsids) => void>();
  private rate = { at: Date.now(), lsid: 0, perSec: 0 };

  private oldest: number;
  private written: number;
  private applied: number;
  private permanent: number;
  private completed: number;
  private completedSeq = 0;
  private overflowed: boolean;
  private readonly opts: Required<Omit<WalDeviceOptions, 'name'>>;
  private readonly exportName: string;
  private readonly stats = { writes: 0, writeBytes: 0, reads: 0, readBytes: 0, flushes: 0, logSyncs: 0, packs: 0, checkpoints: 0 };
  /** Times the log stage had to wait, by reason (a metric of back-pressure). */
  private readonly stalls = { ring: 0, checkpoint: 0, syncBound: 0, pendingMemory: 0 };

  /** Opens a WAL device: reads the super sector, recovers (redo from the checkpoint), starts. */
  constructor(
    readonly log: DeviceFile,
    readonly data: DeviceFile,
    options: WalDeviceOptions = {},
  ) {
    this.opts = {
      overflowPolicy: options.overflowPolicy ?? 'overflow',
      blockTimeoutMs: options.blockTimeoutMs ?? 60_000,
      checkpointIntervalMs: options.checkpointIntervalMs ?? 10_000,
      logFlushIntervalMs: options.logFlushIntervalMs ?? 100,
      logFlushBytes: options.logFlushBytes ?? DEFAULT_LOG_FLUSH_BYTES,
      maxPackBytes: options.maxPackBytes ?? DEFAULT_MAX_PACK_BYTES,
      maxPendingBytes: options.maxPendingBytes ?? 128 * 1024 * 1024,
      writebackBytes: options.writebackBytes ?? 16 * 1024 * 1024,
    };
    const loaded = readSuper(log);
    this.layout = loaded.layout;
    const s = loaded.super;
    const dataBytes = s.deviceSize * LOGICAL_BLOCK_SIZE;
    if (data.size() < dataBytes) {
      throw new NbdError(NBD_EINVAL, `${data.name}: data device has ${data.size()} bytes, the log device says ${dataBytes}`);
    }
    // Log beyond the last sync is at most logFlushBytes + one pack + the pack being started (pumpLog).
    this.recovery = recover(log, data, s, loaded.layout, this.opts.logFlushBytes + 2 * this.opts.maxPackBytes + 4 * s.pbs);
    this.sup = this.recovery.super;
    const end = this.recovery.endLsid;
    this.oldest = this.sup.oldestLsid;
    this.written = this.applied = this.permanent = this.completed = end;
    this.overflowed = this.recovery.overflow;
    this.exportName = options.name ?? (this.sup.name || 'vol');
    const ringBytes = this.sup.ringBufferSize * this.sup.pbs;
    // One request must fit in a quarter of the ring (with its header and padding).
    this.maxPayload = Math.max(4096, Math.min(32 * 1024 * 1024, floorPow2(Math.floor(ringBytes / 4))));
    // A logpack never holds more than a quarter of the ring.
    this.maxPackBytes = Math.max(this.sup.pbs, Math.min(this.opts.maxPackBytes, Math.floor(ringBytes / 4)));
    this.asm = this.newAssembler(end);
    this.rate.lsid = end;
    this.logSync = new LogSync(
      () => this.log.datasync(),
      () => ({ seq: this.completedSeq, lsid: this.completed }),
      (lsid) => {
        this.stats.logSyncs++;
        if (lsid > this.permanent) {
          this.permanent = lsid;
          this.emit();
        }
        this.pumpData();
        this.pumpLog();
      },
    );
    this.timers.push(setInterval(() => this.backgroundSync(), this.opts.logFlushIntervalMs));
    this.timers.push(setInterval(() => void this.checkpoint().catch((e) => this.fail(e)), this.opts.checkpointIntervalMs));
    for (const t of this.timers) t.unref();
  }

  get name(): string {
    return this.exportName;
  }

  get size(): number {
    return this.sup.deviceSize * LOGICAL_BLOCK_SIZE;
  }

  get superSector(): SuperSector {
    return this.sup;
  }

  // ---------------------------------------------------------------- NBD export operations

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buf = Buffer.allocUnsafe(length);
    await this.readInto(offset, buf);
    return buf;
  }

  /** Reads [offset, offset + dest.length) into dest: the data device, with pending writes laid over. */
  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    this.checkRange(offset, dest.length, false);
    const overlays = this.pending.size > 0 ? this.pending.overlapping(offset, offset + dest.length) : [];
    await this.data.read(dest, offset);
    if (overlays.length > 0) PendingWrites.overlay(dest, offset, overlays);
    this.stats.reads++;
    this.stats.readBytes += dest.length;
  }

  write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    this.checkRange(offset, data.length, true);
    if (data.length === 0) return fua ? this.flush() : Promise.resolve();
    return this.submit(fua, () => {
      const lb = offset / LOGICAL_BLOCK_SIZE;
      const n = data.length / LOGICAL_BLOCK_SIZE;
      for (let done = 0; done < n; ) {
        const k = Math.min(MAX_NORMAL_LB, n - done);
        const piece = data.subarray(done * LOGICAL_BLOCK_SIZE, (done + k) * LOGICAL_BLOCK_SIZE);
        this.absorb(this.asm.addWrite(lb + done, k, piece));
        const pos = (lb + done) * LOGICAL_BLOCK_SIZE;
        this.openOps.push({ zero: false, pos, data: piece });
        this.pending.add({ start: pos, end: pos + piece.length, data: piece, packLsid: this.asm.packLsid });
        done += k;
      }
      this.stats.writes++;
      this.stats.writeBytes += data.length;
    });
  }

  trim(offset: number, length: number, fua: boolean): Promise<void> {
    return this.zeroRange(offset, length, fua, false);
  }

  writeZeroes(offset: number, length: number, opts: { fua: boolean; noHole: boolean }): Promise<void> {
    return this.zeroRange(offset, length, opts.fua, opts.noHole);
  }

  /** Every write acknowledged before this call becomes durable in the log. */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(this.ioError());
    this.stats.flushes++;
    return this.logSync.request(this.completedSeq);
  }

  // ---------------------------------------------------------------- control (the storage agent's interface)

  lsids(): DeviceLsids {
    return { oldest: this.oldest, written: this.written, applied: this.applied, permanent: this.permanent, completed: this.completed, latest: this.asm.endLsid };
  }

  status(): DeviceStatus {
    const l = this.lsids();
    const usage = l.latest - l.oldest;
    const ring = this.sup.ringBufferSize;
    this.updateRate();
    return {
      name: this.name,
      sizeBytes: this.size,
      pbs: this.sup.pbs,
      uuid: uuidToHex(this.sup.uuid),
      salt: this.sup.salt,
      ringBufferSize: ring,
      lsids: l,
      logUsagePb: usage,
      logCapacityPb: ring,
      overflow: this.overflowed,
      frozen: this.frozen,
      blockedOnRing: this.blockedSince !== null,
      timeToOverflowSec: this.overflowed ? 0 : this.rate.perSec > 0 ? Math.max(0, ring - usage) / this.rate.perSec : null,
      pendingBytes: this.pending.bytes,
      stats: { ...this.stats },
      stalls: { ...this.stalls },
    };
  }

  /** Calls `fn` whenever the permanent lsid (durable log) or the overflow state changes. */
  onLsids(fn: (l: DeviceLsids) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Frees the log below `lsid` (the storage agent calls this once a proxy acknowledged the log up
   * to there). Like WalB's SET_OLDEST_LSID: oldest ≤ lsid ≤ permanent, and lsid must be where a
   * logpack starts (or the end of the durable log).
   */
  async setOldestLsid(lsid: number): Promise<void> {
    if (!Number.isSafeInteger(lsid) || lsid < this.oldest || lsid > this.permanent) {
      throw new NbdError(NBD_EINVAL, `oldest lsid ${lsid} must be between the current oldest ${this.oldest} and the permanent lsid ${this.permanent}`);
    }
    if (lsid < this.permanent && !this.isPackAt(lsid)) throw new NbdError(NBD_EINVAL, `no logpack starts at lsid ${lsid}`);
    this.oldest = lsid;
    if (this.blockedSince !== null) this.pumpLog();
    this.emit();
    await this.checkpoint(true);
  }

  /**
   * A consistent cut for a snapshot: closes the open pack and returns the lsid below which every
   * write acknowledged before this call is durable in the log.
   */
  async cut(): Promise<number> {
    if (!this.asm.isEmpty) this.closeOpenPack();
    this.pumpLog();
    const target = this.asm.endLsid;
    if (this.completed < target) await new Promise<void>((resolve, reject) => this.completedWaiters.push({ lsid: target, resolve, reject }));
    await this.logSync.request(this.completedSeq);
    return target;
  }

  /** Stops taking new writes (they wait) until melt(), or until timeoutMs passes (0 = no limit). */
  freeze(timeoutMs = 0): void {
    this.frozen = true;
    if (this.freezeTimer) clearTimeout(this.freezeTimer);
    this.freezeTimer = timeoutMs > 0 ? setTimeout(() => this.melt(), timeoutMs) : null;
    this.freezeTimer?.unref();
  }

  melt(): void {
    if (this.freezeTimer) clearTimeout(this.freezeTimer);
    this.freezeTimer = null;
    this.frozen = false;
    const q = this.frozenQueue;
    this.frozenQueue = [];
    for (const f of q) f();
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  get isOverflow(): boolean {
    return this.overflowed;
  }

  /** Grows the device to newSize bytes (a regular data file is extended). Shrinking is refused. */
  async grow(newSize: number): Promise<void> {
    if (!Number.isSafeInteger(newSize) || newSize % LOGICAL_BLOCK_SIZE !== 0 || newSize < this.size) {
      throw new NbdError(NBD_EINVAL, `new size ${newSize} must be a multiple of 512 and at least the current ${this.size}`);
    }
    if (this.data.size() < newSize) this.data.truncate(newSize);
    if (this.data.size() < newSize) throw new NbdError(NBD_EINVAL, `${this.data.name} is only ${this.data.size()} bytes`);
    this.sup = { ...this.sup, deviceSize: newSize / LOGICAL_BLOCK_SIZE };
    await writeSuperAsync(this.log, this.sup);
  }

  /**
   * Clears the log (WalB's CLEAR_LOG, "reset-wal"): waits until everything is on the data device,
   * then starts a new log lineage (new uuid and salt, lsids 0, overflow cleared). The log is
   * recomputed from the log device's size, so a grown log device is used in full.
   */
  async resetLog(): Promise<void> {
    this.freeze();
    try {
      await this.drain();
      await this.checkpoint(true);
      const ring = ringBufferSizeFor(this.log.size(), this.sup.pbs);
      this.sup = { ...this.sup, uuid: new Uint8Array(randomBytes(16)), salt: randomBytes(4).readUInt32LE(0), ringBufferSize: ring, oldestLsid: 0, writtenLsid: 0 };
      (this.layout as { ringBufferSize: number }).ringBufferSize = ring;
      await writeSuperAsync(this.log, this.sup);
      await this.log.writev([new Uint8Array(this.sup.pbs)], lsidToPb(this.layout, 0) * this.sup.pbs);
      await this.log.datasync();
      this.oldest = this.written = this.applied = this.permanent = this.completed = 0;
      this.overflowed = false;
      this.asm = this.newAssembler(0);
      this.rate = { at: Date.now(), lsid: 0, perSec: 0 };
      this.emit();
    } finally {
      this.melt();
    }
  }

  /** Syncs the data device and records the checkpoint (and the oldest lsid) in the super sector. */
  checkpoint(force = false): Promise<void> {
    if (this.checkpointRunning) return this.checkpointRunning.then(() => (force ? this.checkpoint(false) : undefined));
    const target = this.applied;
    if (!force && target === this.written && this.sup.oldestLsid === this.oldest) return Promise.resolve();
    this.checkpointRunning = (async () => {
      try {
        await this.data.datasync();
        this.sup = { ...this.sup, writtenLsid: target, oldestLsid: this.oldest };
        await writeSuperAsync(this.log, this.sup);
        this.written = target;
        this.stats.checkpoints++;
      } finally {
        this.checkpointRunning = null;
      }
      this.pumpLog();
    })();
    return this.checkpointRunning;
  }

  /** Clean shutdown: no new writes; everything logged, applied, synced and checkpointed. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    if (this.freezeTimer) clearTimeout(this.freezeTimer);
    if (this.blockTimer) clearTimeout(this.blockTimer);
    this.melt();
    try {
      if (!this.failure) {
        await this.drain();
        await this.logSync.request(this.completedSeq);
        await this.checkpoint(true);
      }
    } finally {
      this.log.close();
      this.data.close();
    }
  }

  // ---------------------------------------------------------------- internals

  private submit(fua: boolean, add: () => void): Promise<void> {
    if (this.failure) return Promise.reject(this.ioError());
    if (this.closing) return Promise.reject(new NbdError(NBD_ESHUTDOWN, 'the device is shutting down'));
    if (this.frozen) return new Promise((resolve, reject) => this.frozenQueue.push(() => this.submit(fua, add).then(resolve, reject)));
    return new Promise<void>((resolve, reject) => {
      add();
      this.openWaiters.push({ resolve, reject, fua });
      this.scheduleKick();
    });
  }

  private zeroRange(offset: number, length: number, fua: boolean, keep: boolean): Promise<void> {
    this.checkRange(offset, length, true);
    if (length === 0) return fua ? this.flush() : Promise.resolve();
    return this.submit(fua, () => {
      const lb = offset / LOGICAL_BLOCK_SIZE;
      const n = length / LOGICAL_BLOCK_SIZE;
      for (let done = 0; done < n; ) {
        const k = Math.min(MAX_DISCARD_LB, n - done);
        this.absorb(this.asm.addDiscard(lb + done, k));
        const pos = (lb + done) * LOGICAL_BLOCK_SIZE;
        this.openOps.push({ zero: true, pos, len: k * LOGICAL_BLOCK_SIZE, keep });
        this.pending.add({ start: pos, end: pos + k * LOGICAL_BLOCK_SIZE, data: null, packLsid: this.asm.packLsid });
        done += k;
      }
    });
  }

  /**
   * Packs the assembler closed to make room: the first holds every record added before the
   * current one (with its waiters and data operations); a second one can only hold a padding.
   */
  private absorb(closed: ClosedPack[]): void {
    for (const c of closed) {
      this.enqueue(c, this.openOps, this.openWaiters);
      this.openOps = [];
      this.openWaiters = [];
    }
    if (closed.length > 0) this.pumpLog();
  }

  /** Closes the open pack into the log queue (the caller pumps). */
  private closeOpenPack(): void {
    const c = this.asm.close();
    this.enqueue(c, this.openOps, this.openWaiters);
    this.openOps = [];
    this.openWaiters = [];
  }

  private enqueue(closed: ClosedPack, ops: DataOp[], waiters: Waiter[]): void {
    const h = closed.header;
    this.logQueue.push({ closed, end: h.logpackLsid + 1 + h.totalIoSize, seq: 0, bytes: (1 + h.totalIoSize) * h.pbs, ops, waiters });
  }

  private scheduleKick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.pumpLog();
    });
  }

  /** Writes the queued packs to the log while nothing forbids it (ring, sync bound, memory). */
  private pumpLog(): void {
    while (!this.failure) {
      if (this.logQueue.length === 0) {
        // The open pack collects the requests of one event-loop turn (group commit).
        if (this.asm.isEmpty || this.kickScheduled) return;
        this.closeOpenPack();
        continue;
      }
      const p = this.logQueue[0]!;
      const ring = this.sup.ringBufferSize;
      if (!this.overflowed && p.end - this.oldest > ring && !this.ringMayOverflow()) {
        this.stalls.ring++;
        return;
      }
      if (p.end - this.written > ring) {
        // Writing would overwrite log that recovery may still need: checkpoint first (once the
        // data device has caught up far enough; pumpData and the checkpoint call pumpLog again).
        this.stalls.checkpoint++;
        if (p.end - this.applied > ring || this.checkpointRunning) return;
        void this.checkpoint(true).catch((e) => this.fail(e));
        return;
      }
      if ((p.end - this.permanent) * this.sup.pbs > this.opts.logFlushBytes + this.maxPackBytes + p.bytes) {
        this.stalls.syncBound++;
        void this.logSync.request(this.completedSeq).catch((e) => this.fail(e));
        return;
      }
      if (this.pending.bytes > this.opts.maxPendingBytes && this.dataQueue.length > 0) {
        this.stalls.pendingMemory++; // pumpData resumes us
        return;
      }
      this.logQueue.shift();
      try {
        this.writePack(p);
      } catch (e) {
        this.fail(e);
        return;
      }
      this.packLogged(p);
    }
  }

  /** Policy when the next pack would overwrite log not yet shipped: true to go on writing. */
  private ringMayOverflow(): boolean {
    if (this.opts.overflowPolicy === 'block') {
      const now = Date.now();
      this.blockedSince ??= now;
      if (now - this.blockedSince < this.opts.blockTimeoutMs) {
        if (!this.blockTimer) {
          this.blockTimer = setTimeout(() => {
            this.blockTimer = null;
            this.pumpLog();
          }, Math.min(1000, this.opts.blockTimeoutMs - (now - this.blockedSince)));
          this.blockTimer.unref();
        }
        return false;
      }
    }
    this.overflowed = true;
    this.blockedSince = null;
    this.emit();
    return true;
  }

  /**
   * Writes a pack to the log, synchronously: a page-cache write of the pack's bytes, cheaper than a
   * round trip through the thread pool, and it keeps the log strictly in lsid order. A pack that
   * wraps the ring end is written in two pieces.
   */
  private writePack(p: Pack): void {
    const h = p.closed.header;
    const pbs = h.pbs;
    const buffers: Uint8Array[] = [encodeLogpackHeader(h), ...p.closed.chunks];
    const lsid = h.logpackLsid;
    const ring = this.sup.ringBufferSize;
    const total = 1 + h.totalIoSize;
    const first = Math.min(total, ring - (lsid % ring)); // pb before the ring end
    if (first === total) {
      this.log.writevSync(buffers, lsidToPb(this.layout, lsid) * pbs);
      return;
    }
    const [a, b] = splitBuffers(buffers, first * pbs);
    this.log.writevSync(a, lsidToPb(this.layout, lsid) * pbs);
    this.log.writevSync(b, lsidToPb(this.layout, lsid + first) * pbs);
  }

  private packLogged(p: Pack): void {
    this.blockedSince = null;
    this.completedSeq++;
    this.completed = p.end;
    this.stats.packs++;
    const seq = this.completedSeq;
    p.seq = seq;
    for (const w of p.waiters) {
      if (w.fua) this.logSync.request(seq).then(w.resolve, w.reject);
      else w.resolve();
    }
    if (this.completedWaiters.length > 0) {
      const left: typeof this.completedWaiters = [];
      for (const w of this.completedWaiters) (w.lsid <= this.completed ? w.resolve() : left.push(w));
      this.completedWaiters = left;
    }
    this.dataQueue.push(p);
    this.pumpData();
    if (!this.logSync.busy && (this.completed - this.permanent) * this.sup.pbs >= this.opts.logFlushBytes / 2) {
      void this.logSync.request(this.completedSeq).catch((e) => this.fail(e));
    }
    // Start a checkpoint early when half the ring lies beyond the last one, so that writes seldom
    // have to wait for the ring space (a data sync can take seconds after a burst).
    if (!this.checkpointRunning && this.applied > this.written && (this.completed - this.written) * 2 > this.sup.ringBufferSize) {
      void this.checkpoint().catch((e) => this.fail(e));
    }
  }

  /**
   * Applies the packs whose log is durable to the data device: all of them in one batch (one
   * thread-pool job per run of writes), in lsid order.
   */
  private pumpData(): void {
    if (this.dataWriting || this.dataQueue.length === 0 || this.failure) return;
    const first = this.dataQueue[0]!;
    if (first.end > this.permanent) {
      // The data device must never be ahead of the durable log (a power cut would otherwise leave
      // blocks on the device that the log, and so the backups, never see): wait for a log sync —
      // the background one (every logFlushIntervalMs), a client's flush, or one asked for here
      // once the writes waiting in memory reach half their bound (as WalB's pending data does).
      if (this.pending.bytes >= this.opts.maxPendingBytes / 2) void this.logSync.request(first.seq).catch((e) => this.fail(e));
      return;
    }
    let n = 0;
    let ops = 0;
    while (n < this.dataQueue.length && this.dataQueue[n]!.end <= this.permanent && ops < MAX_DATA_BATCH_OPS) ops += this.dataQueue[n++]!.ops.length;
    const batch = this.dataQueue.splice(0, n);
    const last = batch[batch.length - 1]!;
    this.dataWriting = true;
    this.applyOps(batch.length === 1 ? first.ops : batch.flatMap((p) => p.ops)).then(
      () => {
        this.dataWriting = false;
        this.applied = last.end;
        this.startDataWriteback();
        this.pending.release(last.closed.header.logpackLsid);
        this.pumpData();
        this.pumpLog();
        this.wakeDrain();
      },
      (e) => this.fail(e),
    );
  }

  /** Notes a run of data written at `pos` (long runs only) for the next writeback. */
  private noteWritten(pos: number, len: number): void {
    if (this.opts.writebackBytes === 0 || len < WRITEBACK_MIN_RUN) return;
    const r = this.writebackRanges;
    const n = r.length;
    if (n > 0 && r[n - 2]! + r[n - 1]! === pos) r[n - 1] = r[n - 1]! + len;
    else r.push(pos, len);
    this.writebackBytes += len;
  }

  /** Starts writing the noted runs out once writebackBytes of them were applied. */
  private startDataWriteback(): void {
    if (this.writebackRunning || this.writebackBytes < this.opts.writebackBytes || this.writebackBytes === 0) return;
    const ranges = Float64Array.from(this.writebackRanges);
    this.writebackRanges = [];
    this.writebackBytes = 0;
    this.writebackRunning = true;
    void this.data.startWriteback(ranges).finally(() => (this.writebackRunning = false));
  }

  /** Applies a pack's operations to the data device in order (zeroing between batches of writes). */
  private async applyOps(ops: DataOp[]): Promise<void> {
    let bufs: Uint8Array[] = [];
    let pos: number[] = [];
    let runPos = -1;
    let runLen = 0;
    const writeBatch = async () => {
      if (bufs.length === 0) return;
      await this.data.writeMany(bufs, Float64Array.from(pos), bufs.length);
      bufs = [];
      pos = [];
    };
    for (const op of ops) {
      if (op.zero) {
        await writeBatch();
        this.data.zero(op.pos, op.len, op.keep);
      } else {
        bufs.push(op.data);
        pos.push(op.pos);
        if (op.pos === runPos + runLen) runLen += op.data.length;
        else {
          if (runLen > 0) this.noteWritten(runPos, runLen);
          runPos = op.pos;
          runLen = op.data.length;
        }
      }
    }
    await writeBatch();
    if (runLen > 0) this.noteWritten(runPos, runLen);
  }

  private backgroundSync(): void {
    if (this.failure || this.completedSeq <= this.logSync.syncedSeq || this.logSync.busy) return;
    void this.logSync.request(this.completedSeq).catch((e) => this.fail(e));
  }

  private drainWaiters: Array<() => void> = [];
  private completedWaiters: Array<{ lsid: number; resolve: () => void; reject: (e: unknown) => void }> = [];

  /** Resolves when every accepted write is in the log and on the data device. */
  private async drain(): Promise<void> {
    if (!this.asm.isEmpty) this.closeOpenPack();
    this.pumpLog();
    while (!this.failure && (this.logQueue.length > 0 || this.dataQueue.length > 0 || this.dataWriting || !this.asm.isEmpty)) {
      if (!this.asm.isEmpty && this.logQueue.length === 0) this.closeOpenPack();
      this.pumpLog();
      // The data stage waits for the log to be durable: sync it now rather than at the next tick.
      if (this.dataQueue.length > 0 && !this.dataWriting) {
        await this.logSync.request(this.completedSeq);
        continue;
      }
      await new Promise<void>((r) => this.drainWaiters.push(r));
    }
    if (this.failure) throw this.ioError();
  }

  private wakeDrain(): void {
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
  }


  private isPackAt(lsid: number): boolean {
    const b = Buffer.alloc(this.sup.pbs);
    this.log.readSync(b, lsidToPb(this.layout, lsid) * this.sup.pbs);
    return typeof decodeLogpackHeader(b, this.sup.pbs, this.sup.salt, lsid) !== 'string';
  }

  private checkRange(offset: number, length: number, write: boolean): void {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new NbdError(NBD_EINVAL, `range ${offset}+${length} is beyond the device (${this.size} bytes)`);
    }
    if (write && (offset % LOGICAL_BLOCK_SIZE !== 0 || length % LOGICAL_BLOCK_SIZE !== 0)) {
      throw new NbdError(NBD_EINVAL, `writes must be aligned to ${LOGICAL_BLOCK_SIZE} bytes`);
    }
  }

  private newAssembler(lsid: number): LogpackAssembler {
    return new LogpackAssembler(this.sup.pbs, this.sup.salt, this.sup.ringBufferSize, lsid, Math.floor(this.maxPackBytes / this.sup.pbs));
  }

  private emit(): void {
    const l = this.lsids();
    for (const fn of this.listeners) fn(l);
  }

  private updateRate(): void {
    const now = Date.now();
    const dt = (now - this.rate.at) / 1000;
    if (dt < 1) return;
    const latest = this.asm.endLsid;
    const inst = (latest - this.rate.lsid) / dt;
    this.rate = { at: now, lsid: latest, perSec: this.rate.perSec === 0 ? inst : 0.7 * this.rate.perSec + 0.3 * inst };
  }

  private fail(e: unknown): void {
    if (this.failure) return;
    this.failure = e instanceof Error ? e : new Error(String(e));
    const err = this.ioError();
    const all = [...this.openWaiters, ...this.logQueue.flatMap((p) => p.waiters), ...this.completedWaiters];
    this.openWaiters = [];
    this.completedWaiters = [];
    this.logQueue.length = 0;
    for (const w of all) w.reject(err);
    this.wakeDrain();
  }

  private ioError(): NbdError {
    return new NbdError(NBD_EIO, `the WAL device failed: ${this.failure?.message ?? 'unknown error'}`);
  }
}

function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}

/** Splits a list of buffers at a byte position into two lists. */
function splitBuffers(buffers: Uint8Array[], at: number): [Uint8Array[], Uint8Array[]] {
  const a: Uint8Array[] = [];
  const b: Uint8Array[] = [];
  let pos = 0;
  for (const buf of buffers) {
    if (pos + buf.length <= at) a.push(buf);
    else if (pos >= at) b.push(buf);
    else {
      a.push(buf.subarray(0, at - pos));
      b.push(buf.subarray(at - pos));
    }
    pos += buf.length;
  }
  return [a, b];
}
