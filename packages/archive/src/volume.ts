/**
 * One archived volume in memory: its record, its registered diffs, and the rules over them —
 * latest snapshot, whether a diff is accepted, which diffs restore a gid, restorable snapshots.
 * No gRPC here; state changes go through `transition(from[], to)`, which persists the record
 * (store.ts) before memory changes and logs `A -> B`.
 */
import {
  applicableChain,
  chainToGid,
  formatMetaDiff,
  formatMetaSnap,
  getRelation,
  restorableSnapshots,
  RejectedError,
  uuidToHex,
  type ChainStep,
  type Logger,
  type MetaDiff,
  type MetaSnap,
  type MetaState,
  type RejectReason,
  type RestorableSnapshot,
} from '@blockwal/core';
import type { ArchiveStore, StoredDiff } from './store.js';
import type { VolumeRecord, VolumeState } from './state-file.js';

/** What a sender offers in a PushDiff header. */
export interface DiffOffer {
  readonly deviceUuid: Uint8Array;
  readonly diff: MetaDiff;
  readonly sizeBytes: number;
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: RejectReason; readonly message: string; readonly latest: MetaSnap | null };

/** The transfer that holds the volume: at most one at a time. */
export type Transfer = 'diff' | 'full-sync';

export class Volume {
  private rec: VolumeRecord;
  private stored: StoredDiff[];
  private transferKind: Transfer | null = null;

  constructor(
    rec: VolumeRecord,
    diffs: StoredDiff[],
    private readonly store: ArchiveStore,
    private readonly log: Logger,
  ) {
    this.rec = rec;
    this.stored = diffs;
  }

  get name(): string {
    return this.rec.volume;
  }
  get record(): VolumeRecord {
    return this.rec;
  }
  get state(): VolumeState {
    return this.rec.state;
  }
  get diffs(): readonly StoredDiff[] {
    return this.stored;
  }
  get transfer(): Transfer | null {
    return this.transferKind;
  }
  get diffBytes(): number {
    return this.stored.reduce((n, s) => n + s.diff.dataSize, 0);
  }

  /** The applicable chain from the base (empty without a base). */
  chain(): ChainStep[] {
    const base = this.rec.base;
    return base === null ? [] : applicableChain(base, this.stored.map((s) => s.diff));
  }

  /** The registered diffs of the applicable chain, in chain order (empty without a base). */
  chainDiffs(): StoredDiff[] {
    const byDiff = new Map<MetaDiff, StoredDiff>(this.stored.map((s) => [s.diff, s]));
    return this.chain().map((step) => byDiff.get(step.diff)!);
  }

  /** The snapshot the base and the chain reach; null without a base. */
  latest(): MetaSnap | null {
    const base = this.rec.base;
    if (base === null) return null;
    const chain = this.chain();
    return chain.length > 0 ? chain[chain.length - 1]!.snap : base.snapB;
  }

  restorable(): RestorableSnapshot[] {
    const base = this.rec.base;
    return base === null ? [] : restorableSnapshots(base, this.stored.map((s) => s.diff));
  }

  /** Recovery point objective: seconds since the newest restorable snapshot; null when none. */
  rpoSeconds(now: number): number | null {
    const newest = this.restorable().at(-1);
    return newest === undefined ? null : Math.max(0, now - newest.timestamp);
  }

  /**
   * The archive's verdict on a diff offered by a sender (walb-tools-architecture §4.3 step 3, in
   * that order): syncing, busy, different uuid, size, then the relation to the latest snapshot.
   */
  check(offer: DiffOffer): Verdict {
    const latest = this.latest();
    const no = (reason: RejectReason, message: string): Verdict => ({ ok: false, reason, message: `volume ${this.name}: ${message}`, latest });
    const what = formatMetaDiff(offer.diff);
    if (this.rec.state === 'full-sync' || this.rec.base === null) return no('syncing', `a full sync is in progress; diff ${what} must wait`);
    if (this.transferKind !== null) return no('busy', `another ${this.transferKind === 'diff' ? 'diff' : 'full sync'} is being received`);
    if (!sameUuid(offer.deviceUuid, this.rec.deviceUuid!)) {
      return no('different-uuid', `diff ${what} has device uuid ${uuidToHex(offer.deviceUuid)}, the archive's lineage is ${uuidToHex(this.rec.deviceUuid!)}`);
    }
    if (offer.sizeBytes !== this.rec.sizeBytes) return no('bad-argument', `diff ${what} is for a volume of ${offer.sizeBytes} bytes, the archive's is ${this.rec.sizeBytes} bytes`);
    const rel = getRelation(latest!, offer.diff);
    const at = `the latest snapshot is ${formatMetaSnap(latest!)}`;
    if (rel === 'too-old') return no('too-old', `diff ${what} is too old: ${at}`);
    if (rel === 'too-new') return no('too-new', `diff ${what} is too new: ${at}; a diff before it is missing`);
    if (rel === 'not-applicable') {
      const reason = offer.diff.snapB.gidB > latest!.gidB ? 'too-new' : 'too-old';
      return no(reason, `compared diff ${what} applies only to |${offer.diff.snapB.gidB}|: ${at}`);
    }
    return { ok: true };
  }

  /**
   * The registered diffs that restore clean snapshot `gid` from the base, oldest first.
   * RejectedError not-found (listing the restorable gids) when `gid` is not restorable.
   */
  diffsToGid(gid: number): StoredDiff[] {
    const base = this.rec.base;
    if (base === null) throw new RejectedError('not-found', `volume ${this.name} has no base image yet (a full sync is in progress)`, { volume: this.name, gid });
    const byDiff = new Map<MetaDiff, StoredDiff>(this.stored.map((s) => [s.diff, s]));
    try {
      return chainToGid(base, this.stored.map((s) => s.diff), gid).map((d) => byDiff.get(d)!);
    } catch {
      const gids = this.restorable().map((r) => r.gid);
      throw new RejectedError('not-found', `gid ${gid} is not restorable; restorable gids: ${gids.length > 0 ? gids.join(', ') : 'none'}`, { volume: this.name, gid });
    }
  }

  /** Takes the volume for a transfer; RejectedError busy when another one holds it. */
  beginTransfer(kind: Transfer): void {
    if (this.transferKind !== null) {
      throw new RejectedError('busy', `another ${this.transferKind === 'diff' ? 'diff' : 'full sync'} of the volume is being received`, { volume: this.name });
    }
    this.transferKind = kind;
  }

  endTransfer(kind: Transfer): void {
    if (this.transferKind === kind) this.transferKind = null;
  }

  /** Registers a diff (after store.registerDiff made it durable). */
  addDiff(d: StoredDiff): void {
    this.stored = [...this.stored.filter((s) => s.name !== d.name), d];
  }

  /** Forgets diffs (after the store deleted them). */
  dropDiffs(names: readonly string[]): void {
    const gone = new Set(names);
    this.stored = this.stored.filter((s) => !gone.has(s.name));
  }

  /**
   * Changes the persisted state: refuses unless the current state is in `from`, writes the new
   * record durably, then adopts it in memory and logs `from -> to`.
   */
  transition(from: readonly VolumeState[], to: VolumeState, patch: Partial<Omit<VolumeRecord, 'volume' | 'state'>>): void {
    const cur = this.rec.state;
    if (!from.includes(cur)) throw new RejectedError('bad-argument', `volume ${this.name} is '${cur}', expected ${from.map((s) => `'${s}'`).join(' or ')} to go to '${to}'`, { volume: this.name });
    const next: VolumeRecord = { ...this.rec, ...patch, state: to };
    this.store.writeRecord(next);
    this.rec = next;
    this.log.info({ volume: this.name, from: cur, to }, 'volume state');
  }

  /** Persists a change that keeps the state (e.g. full-sync progress). */
  update(patch: Partial<Omit<VolumeRecord, 'volume' | 'state'>>): void {
    const next: VolumeRecord = { ...this.rec, ...patch };
    this.store.writeRecord(next);
    this.rec = next;
  }

  /** The base state, or null. */
  get base(): MetaState | null {
    return this.rec.base;
  }
}

export function sameUuid(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
