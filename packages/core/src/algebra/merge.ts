/**
 * Merging consecutive diffs into one (walb-formats §7.3, walb-tools-architecture §2.2, §4.6 merge).
 * The meta side only; the data merge (newer block wins) is the wdiff merger's job.
 */

import { UsageError } from '../errors.js';
import { formatMetaDiff, isCleanDiff, type MetaDiff } from './meta-diff.js';

/**
 * walb-tools `canMerge`: `d1` is mergeable (the snapshot between them is implicit), neither is a
 * compared diff, and `d0.snapB.gidB <= d1.snapB.gidB <= d0.snapE.gidB < d1.snapE.gidB`
 * (overlapping or contiguous, and `d1` reaches further).
 */
export function canMerge(d0: MetaDiff, d1: MetaDiff): boolean {
  return (
    d1.isMergeable &&
    !d0.isCompDiff &&
    !d1.isCompDiff &&
    d0.snapB.gidB <= d1.snapB.gidB &&
    d1.snapB.gidB <= d0.snapE.gidB &&
    d0.snapE.gidB < d1.snapE.gidB
  );
}

/**
 * walb-tools `merge`: from `d0.snapB` to `d1`'s end — `|d1.snapE.gidB, max(d1.snapE.gidB, d0.snapE.gidE)|`
 * if `d1` is clean, else `d1.snapE`; timestamp of `d1`, mergeable flag of `d0`, not compared,
 * dataSize 0 (unknown until written). UsageError unless `canMerge(d0, d1)`.
 */
export function merge(d0: MetaDiff, d1: MetaDiff): MetaDiff {
  if (!canMerge(d0, d1)) throw new UsageError(`cannot merge ${formatMetaDiff(d0)} with ${formatMetaDiff(d1)}`);
  const gidB = d1.snapE.gidB;
  return {
    snapB: d0.snapB,
    snapE: isCleanDiff(d1) ? { gidB, gidE: Math.max(gidB, d0.snapE.gidE) } : d1.snapE,
    isMergeable: d0.isMergeable,
    isCompDiff: false,
    timestamp: d1.timestamp,
    dataSize: 0,
  };
}

/** True if the list is non-empty and merges left to right. */
export function canMergeAll(diffs: readonly MetaDiff[]): boolean {
  if (diffs.length === 0) return false;
  let merged = diffs[0]!;
  for (const d of diffs.slice(1)) {
    if (!canMerge(merged, d)) return false;
    merged = merge(merged, d);
  }
  return true;
}

/** Merges the list left to right; UsageError if it is empty or some step cannot merge. */
export function mergeAll(diffs: readonly MetaDiff[]): MetaDiff {
  if (diffs.length === 0) throw new UsageError('mergeAll: no diffs');
  return diffs.reduce(merge);
}

/**
 * Cuts consecutive diffs (a chain, oldest first) into maximal runs that merge left to right:
 * a run grows while the next diff can merge with the merge of the run so far (walb-tools
 * `getMergeableDiffList`). Every diff is in exactly one run, in order; a run ends before a diff
 * that starts at an explicit snapshot, is compared, or does not follow. Callers pick among the
 * runs of two or more, under their own limits (count, size, replica positions).
 */
export function mergeableRuns(chain: readonly MetaDiff[]): MetaDiff[][] {
  const runs: MetaDiff[][] = [];
  let run: MetaDiff[] = [];
  let merged: MetaDiff | undefined;
  for (const d of chain) {
    if (merged && canMerge(merged, d)) {
      run.push(d);
      merged = merge(merged, d);
    } else {
      if (run.length > 0) runs.push(run);
      run = [d];
      merged = d;
    }
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
