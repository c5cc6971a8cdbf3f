/**
 * Background merging of implicit snapshots (compaction). Storage agents ship an implicit
 * snapshot about every transfer, so a volume gathers many small diffs; a restore opens every diff
 * of its chain. Now and then, per volume, a run of consecutive **mergeable** diffs of the
 * applicable chain whose snapshots are older than `mergeAfterMs` is merged into one diff —
 * walb-tools `merge` semantics (core algebra: `mergeableRuns`, `canMergeAll`, `mergeAll`): never
 * across an explicit snapshot (a diff that is not mergeable starts a new run), never a compared
 * diff; the result has the first diff's mergeable flag and the last one's timestamp.
 *
 * Ordering (a crash anywhere leaves a consistent archive):
 * 1. on the event loop: pick the run, **open** its files;
 * 2. in a worker thread: k-way merge into `diffs/.<name>.<hex>.tmp` (snappy), fsync;
 * 3. on the event loop: if the volume changed meanwhile (another lineage, an input gone), delete
 *    the temp; else **rename** it into diffs/ (registers it) and fsync diffs/ — the merged diff
 *    `contains` every input, so the applicable chain now takes it and the inputs are garbage
 *    (checked with `garbageDiffs`, the start-up rule) — then delete the inputs and fsync diffs/.
 *    A crash between rename and deletes leaves redundant diffs that start-up deletes.
 *
 * Restores and ReadSnapshot open their files before they return to the event loop, so deleting
 * an input never breaks one that started: no reader count is needed.
 */
import { closeSync, rmSync } from 'node:fs';
import {
  DEFAULT_COMPRESSION,
  canMergeAll,
  contains,
  formatMetaDiff,
  formatWdiffName,
  garbageDiffs,
  mergeAll,
  mergeableRuns,
  type Logger,
  type MetaDiff,
} from '@blockwal/core';
import type { Archive } from './archive.js';
import type { OpenedFile } from './jobs.js';
import type { ArchiveMetrics } from './metrics.js';
import { openRead } from './restore.js';
import type { StoredDiff } from './store.js';
import { sameUuid, type Volume } from './volume.js';

/** At most this many diffs go into one merge (each is open at once, with a read buffer). */
export const MAX_MERGE_DIFFS = 256;
/** After a failed merge, a volume is left alone this long. */
const RETRY_AFTER_MS = 60_000;

export interface MergePolicy {
  /** Only diffs whose (end snapshot) timestamp is at most this are merged (unix seconds). */
  readonly cutoff: number;
  /** A merge's inputs total at most this many bytes (the merged file is at most about that). */
  readonly maxBytes: number;
  readonly maxDiffs?: number;
}

/**
 * The next diffs to merge: consecutive diffs of `chain` (the applicable chain, in order), all
 * at most `cutoff` old, inside one mergeable run, at least two, at most `maxBytes` together.
 * Among the candidates of a run, a diff joins the front of a merge only if it is not larger
 * than the rest of that merge together, so that a big merged diff is not rewritten for every
 * small diff that comes after it (each byte is rewritten O(log n) times). Null when nothing is
 * to merge.
 */
export function pickMerge(chain: readonly StoredDiff[], policy: MergePolicy): StoredDiff[] | null {
  const maxDiffs = policy.maxDiffs ?? MAX_MERGE_DIFFS;
  let n = 0;
  while (n < chain.length && chain[n]!.diff.timestamp <= policy.cutoff) n++;
  const byDiff = new Map<MetaDiff, StoredDiff>(chain.slice(0, n).map((s) => [s.diff, s]));
  const size = (s: StoredDiff) => s.diff.dataSize;
  for (const run of mergeableRuns(chain.slice(0, n).map((s) => s.diff))) {
    const r = run.map((d) => byDiff.get(d)!);
    for (let i = 0; i + 1 < r.length; i++) {
      // The longest stretch from i within the limits…
      let j = i + 1;
      let total = size(r[i]!);
      while (j < r.length && j - i < maxDiffs && total + size(r[j]!) <= policy.maxBytes) total += size(r[j++]!);
      // …without its leading diffs that are larger than the rest of it.
      let k = i;
      while (j - k >= 2 && size(r[k]!) > total - size(r[k]!)) total -= size(r[k++]!);
      if (j - k >= 2 && canMergeAll(r.slice(k, j).map((s) => s.diff))) return r.slice(k, j);
    }
  }
  return null;
}

export interface MergerOptions {
  readonly mergeAfterMs: number;
  readonly mergeMaxBytes: number;
  readonly metrics: ArchiveMetrics;
  readonly logger: Logger;
  /** Milliseconds (tests move time). */
  readonly nowMs?: () => number;
}

/** Merges runs of old mergeable diffs of every volume, one merge per volume at a time, in the background. */
export class DiffMerger {
  private timer: NodeJS.Timeout | null = null;
  private readonly running = new Map<string, Promise<void>>();
  private readonly retryAt = new Map<string, number>();
  private readonly nowMs: () => number;
  private stopped = false;

  constructor(
    private readonly archive: Archive,
    private readonly opts: MergerOptions,
  ) {
    this.nowMs = opts.nowMs ?? Date.now;
  }

  get enabled(): boolean {
    return this.opts.mergeAfterMs > 0;
  }

  /** Starts the periodic check (every mergeAfterMs / 4, from 100 ms to 5 s); nothing when disabled. */
  start(): void {
    if (!this.enabled || this.timer !== null || this.stopped) return;
    const every = Math.min(5000, Math.max(100, Math.floor(this.opts.mergeAfterMs / 4)));
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
  }

  /** Starts a merge on each volume that has one to do and is not merging, while the workers are free. */
  tick(): void {
    if (this.stopped || !this.enabled) return;
    for (const vol of this.archive.volumes()) {
      if (this.archive.workers.busy) return; // background work: restores and receives go first
      if ((this.retryAt.get(vol.name) ?? 0) <= this.nowMs()) this.mergeOnce(vol);
    }
  }

  /** Stops starting merges; resolves when the running ones have ended (close the workers to end them early). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.running.values()]);
  }

  /** Resolves when no merge runs (tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  /**
   * Starts the merge `vol` has to do now, unless one is running: a promise that never rejects,
   * or null when there is nothing to merge.
   */
  mergeOnce(vol: Volume): Promise<void> | null {
    if (this.running.has(vol.name)) return null;
    const rec = vol.record;
    if (rec.state !== 'archived' || rec.base === null || vol.transfer === 'full-sync' || rec.archiveUuid === null || rec.deviceUuid === null) return null;
    const cutoff = Math.floor((this.nowMs() - this.opts.mergeAfterMs) / 1000);
    const group = pickMerge(vol.chainDiffs(), { cutoff, maxBytes: this.opts.mergeMaxBytes });
    if (group === null) return null;
    const merged = mergeAll(group.map((s) => s.diff));
    const name = formatWdiffName(merged);
    const log = this.opts.logger.child({ volume: vol.name });
    if (vol.diffs.some((s) => s.name === name)) {
      log.warn({ name }, 'a diff with the name of a merge is already registered: merging left alone');
      this.retryAt.set(vol.name, this.nowMs() + RETRY_AFTER_MS);
      return null;
    }
    const p = this.run(vol, group, merged, name, rec.archiveUuid, rec.deviceUuid, log).finally(() => this.running.delete(vol.name));
    this.running.set(vol.name, p);
    return p;
  }

  private async run(vol: Volume, group: StoredDiff[], merged: MetaDiff, name: string, lineage: Uint8Array, uuid: Uint8Array, log: Logger): Promise<void> {
    const store = this.archive.store;
    const tmp = store.diffTempPath(vol.name, name);
    const opened: OpenedFile[] = [];
    const started = this.nowMs();
    try {
      for (const s of group) opened.push(openRead(store.diffPath(vol.name, s.name)));
      const r = await this.archive.workers.run({ kind: 'merge', sources: opened, out: tmp, uuid: Uint8Array.from(uuid), compression: DEFAULT_COMPRESSION });
      // Back on the event loop: nothing else runs until the merge is registered and its inputs deleted.
      const rec = vol.record;
      if (this.archive.find(vol.name) !== vol || rec.archiveUuid === null || !sameUuid(rec.archiveUuid, lineage) || group.some((s) => !vol.diffs.includes(s)) || vol.diffs.some((s) => s.name === name)) {
        rmSync(tmp, { force: true });
        log.info({ diff: formatMetaDiff(merged) }, 'merge dropped: the volume changed meanwhile');
        return;
      }
      if (!group.every((s) => contains(merged, s.diff))) throw new Error(`merge ${formatMetaDiff(merged)} does not contain all its inputs`); // algebra invariant
      const stored: StoredDiff = { name, diff: { ...merged, dataSize: r.bytes } };
      store.registerDiff(vol.name, tmp, name);
      vol.addDiff(stored);
      // The inputs are garbage now (start-up would delete them): delete them.
      const garbage = new Set(garbageDiffs(rec.base!, vol.diffs.map((s) => s.diff)));
      const gone = group.filter((s) => garbage.has(s.diff)).map((s) => s.name);
      if (gone.length !== group.length) log.error({ merged: name, kept: group.filter((s) => !garbage.has(s.diff)).map((s) => s.name) }, 'merge: some inputs are still on the chain; kept');
      store.deleteDiffs(vol.name, gone);
      vol.dropDiffs(gone);
      this.opts.metrics.merges.inc({ volume: vol.name });
      this.opts.metrics.mergedDiffs.inc({ volume: vol.name }, gone.length);
      const inBytes = group.reduce((t, s) => t + s.diff.dataSize, 0);
      log.info({ diff: formatMetaDiff(merged), name, diffs: group.length, inBytes, bytes: r.bytes, records: r.outputRecords, ms: this.nowMs() - started }, 'diffs merged');
    } catch (e) {
      rmSync(tmp, { force: true });
      this.retryAt.set(vol.name, this.nowMs() + RETRY_AFTER_MS);
      if (!this.stopped) log.warn({ diff: formatMetaDiff(merged), err: e instanceof Error ? e.message : String(e) }, 'merge failed; retried later');
    } finally {
      for (const f of opened) closeQuietly(f.fd);
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
