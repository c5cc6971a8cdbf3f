/**
 * One volume: its persisted record, its log source and the operations on its record. Every change
 * of the record goes through `update`, which is synchronous (the new record is written durably
 * before anything else runs), so the snapshot queue and the done record never interleave.
 */
import { RejectedError, uuidToHex, type Logger } from '@blockwal/core';
import { chunkMaxPb, needsImplicitSnapshot, newestRecord, pushSnapshot } from './snapshot.js';
import { isShipping, reasonInState, transition, type LsidGid, type VolumeRecord, type VolumeState } from './state.js';
import type { VolumeStore } from './store.js';
import type { LogSource, SourceIdentity } from './source.js';

export interface VolumeSettings {
  chunkMaxBytes: number;
  snapshotIntervalMs: number;
}

export interface VolumeStatus {
  volume: string;
  state: VolumeState;
  sizeBytes: number;
  nbdUri: string;
  logUsageBytes: number;
  logCapacityBytes: number;
  unsentBytes: number;
  shippedGid: number;
  latestGid: number;
  proxy: string;
  fullSyncBytes: number;
  deviceUuid: Uint8Array;
  lastError: string;
  oldestLsid: number;
  permanentLsid: number;
  done: LsidGid;
  queue: LsidGid[];
}

export function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

export class Volume {
  /** The proxy that acknowledged the last wlog ('' when none is reachable). */
  proxyInUse = '';
  /** Bytes of the running (or last) full backup copied so far. */
  fullSyncBytes = 0;
  private rec_: VolumeRecord;

  constructor(
    rec: VolumeRecord,
    readonly source: LogSource,
    public identity: SourceIdentity,
    private readonly store: VolumeStore,
    readonly settings: VolumeSettings,
    readonly log: Logger,
  ) {
    this.rec_ = rec;
  }

  get name(): string {
    return this.rec_.volume;
  }

  get rec(): VolumeRecord {
    return this.rec_;
  }

  get state(): VolumeState {
    return this.rec_.state;
  }

  get maxPb(): number {
    return chunkMaxPb(this.settings.chunkMaxBytes, this.identity.pbs);
  }

  /** Applies fn to the record and persists the result before returning it. */
  update(fn: (r: VolumeRecord) => VolumeRecord): VolumeRecord {
    const next = fn(this.rec_);
    this.store.save(next);
    this.rec_ = next;
    return next;
  }

  transition(from: readonly VolumeState[], to: VolumeState, extra: Partial<VolumeRecord> = {}): VolumeRecord {
    return this.update((r) => ({ ...transition(r, from, to, this.log), ...extra }));
  }

  /** Records an error for status (persisted with the next state change). */
  setError(message: string): void {
    this.rec_ = { ...this.rec_, lastError: message };
  }

  clearError(): void {
    if (this.rec_.lastError) this.rec_ = { ...this.rec_, lastError: '' };
  }

  /** Refuses with the state's reason unless the volume is in one of the states. */
  requireState(states: readonly VolumeState[], what: string): void {
    if (!states.includes(this.state)) throw new RejectedError(reasonInState(this.state), `volume ${this.name} is ${this.state}: ${what} refused`, { volume: this.name });
  }

  /**
   * A snapshot: cut the device (every acknowledged write durable below the cut), allocate the gid,
   * persist the queue, then answer. Explicit snapshots are not mergeable.
   */
  async snapshot(o: { explicit: boolean; states: readonly VolumeState[] }): Promise<LsidGid> {
    this.requireState(o.states, 'snapshot');
    if (await this.source.isOverflow()) {
      this.markOverflow();
      throw new RejectedError('overflow', `volume ${this.name}: the log overflowed; run a full backup`, { volume: this.name });
    }
    const uuid = this.rec_.deviceUuid;
    const lsid = await this.source.cut();
    this.requireState(o.states, 'snapshot');
    if (this.rec_.deviceUuid !== uuid) throw new RejectedError('busy', `volume ${this.name}: the log was reset during the snapshot; take it again`, { volume: this.name });
    let record!: LsidGid;
    this.update((r) => {
      const p = pushSnapshot(r.done, r.queue, lsid, { mergeable: !o.explicit, timestamp: nowSec(), maxPb: this.maxPb });
      record = p.record;
      return { ...r, done: p.done, queue: p.queue };
    });
    this.log.info({ gid: record.gid, lsid: record.lsid, explicit: o.explicit }, 'snapshot');
    return record;
  }

  /** Adds an implicit snapshot at the durable end when the rule says so (snapshot.ts). */
  maybeImplicit(permanent: number): LsidGid | null {
    const r = this.rec_;
    if (!needsImplicitSnapshot(r.done, r.queue, permanent, nowSec(), this.settings.snapshotIntervalMs)) return null;
    let record!: LsidGid;
    this.update((x) => {
      const p = pushSnapshot(x.done, x.queue, permanent, { mergeable: true, timestamp: nowSec(), maxPb: this.maxPb });
      record = p.record;
      return { ...x, done: p.done, queue: p.queue };
    });
    this.log.debug({ gid: record.gid, lsid: record.lsid }, 'implicit snapshot');
    return record;
  }

  /** The device's log overflowed: shipping stops, snapshots are refused until a full backup. */
  markOverflow(): void {
    if (this.state === 'overflow' || this.state === 'sync-ready') return;
    this.log.error({ state: this.state }, 'log overflow');
    this.transition(['target', 'stopped', 'full-sync'], 'overflow', { lastError: 'the log overflowed before it was shipped: a full backup is needed', fullSync: null });
  }

  get shipping(): boolean {
    return isShipping(this.state);
  }

  async status(): Promise<VolumeStatus> {
    const r = this.rec_;
    let l = { oldest: r.done.lsid, permanent: r.done.lsid, latest: r.done.lsid };
    let deviceError = '';
    try {
      l = await this.source.lsids();
    } catch (e) {
      deviceError = `device: ${(e as Error).message}`;
    }
    const pbs = this.identity.pbs;
    return {
      volume: r.volume,
      state: r.state,
      sizeBytes: r.sizeBytes,
      nbdUri: this.source.nbdUri ?? '',
      logUsageBytes: Math.max(0, l.latest - l.oldest) * pbs,
      logCapacityBytes: this.identity.ringBufferSize * pbs,
      unsentBytes: Math.max(0, l.latest - r.done.lsid) * pbs,
      shippedGid: r.done.gid,
      latestGid: newestRecord(r.done, r.queue).gid,
      proxy: this.proxyInUse,
      fullSyncBytes: this.fullSyncBytes,
      deviceUuid: Uint8Array.from(Buffer.from(r.deviceUuid, 'hex')),
      lastError: deviceError || r.lastError,
      oldestLsid: l.oldest,
      permanentLsid: l.permanent,
      done: r.done,
      queue: r.queue,
    };
  }

  uuidHex(): string {
    return uuidToHex(this.identity.uuid);
  }
}
