/**
 * Choosing diffs from an archive's set: the max-progress applicable chain from the base state,
 * the diffs to reach a snapshot, to apply up to a gid, and garbage (walb-tools-architecture §2.2
 * "Choice among candidates", "gc", "Applying state"; §3.5, §4.6 apply/restore; §6.4).
 *
 * The set may hold duplicates, overlapping merged diffs, too-old leftovers and compared diffs;
 * only the chain picked by max progress from the base is live. Diffs are identified by object
 * identity: the chain holds the very objects of the input list.
 */

import { BlockwalError, UsageError } from '../errors.js';
import type { MetaDiff } from './meta-diff.js';
import { checkGid, formatMetaSnap, isClean, type MetaSnap } from './meta-snap.js';
import { formatMetaState, type MetaState } from './meta-state.js';
import { apply, hasMoreProgress } from './relation.js';

/** One diff of a chain and the snapshot it leads to. */
export interface ChainStep {
  readonly diff: MetaDiff;
  readonly snap: MetaSnap;
}

/**
 * walb-tools `getApplicableDiffList(base.snapB)`: starting at `base.snapB`, repeatedly apply the
 * applicable diff of most progress (`getMaxProgressDiff` over every applicable diff, the first in
 * `diffs` order on full ties) until none applies. While `base` is applying, the chain still starts
 * at `snapB`; see `minimalApplyingPrefix`.
 *
 * O(n log n): gidB only grows along the chain, so the best non-compared candidate is a running
 * maximum over the diffs sorted by `snapB.gidB` (a candidate that is too old has
 * `snapE.gidB <= gidB` and can only win when nothing applies); compared diffs are looked up by
 * their exact start.
 */
export function applicableChain(base: MetaState, diffs: readonly MetaDiff[]): ChainStep[] {
  const byStart: number[] = [];
  const compAt = new Map<number, number[]>();
  diffs.forEach((d, i) => {
    const at = compAt.get(d.snapB.gidB);
    if (!d.isCompDiff) byStart.push(i);
    else if (at) at.push(i);
    else compAt.set(d.snapB.gidB, [i]);
  });
  byStart.sort((a, b) => diffs[a]!.snapB.gidB - diffs[b]!.snapB.gidB || a - b);

  const beats = (i: number, j: number) =>
    j < 0 || hasMoreProgress(diffs[i]!, diffs[j]!) || (i < j && !hasMoreProgress(diffs[j]!, diffs[i]!));
  const steps: ChainStep[] = [];
  let snap = base.snapB;
  let seen = 0;
  let best = -1; // most progress among the non-compared diffs with snapB.gidB <= snap.gidB
  for (;;) {
    for (; seen < byStart.length && diffs[byStart[seen]!]!.snapB.gidB <= snap.gidB; seen++) {
      if (beats(byStart[seen]!, best)) best = byStart[seen]!;
    }
    let pick = best >= 0 && diffs[best]!.snapE.gidB > snap.gidB ? best : -1;
    for (const i of compAt.get(snap.gidB) ?? []) if (beats(i, pick)) pick = i;
    if (pick < 0) return steps;
    snap = apply(snap, diffs[pick]!);
    steps.push({ diff: diffs[pick]!, snap });
  }
}

/**
 * How many leading steps of `chain` (from `applicableChain(base, …)`) must be applied together
 * before the base image is usable again: 0 for a steady base; while applying, up to the first
 * step that reaches `base.snapE.gidB` (walb-tools `getMinimumApplicableDiffList`; unlike it, a
 * step that jumps past snapE.gidB also counts, as `canApplyToState` allows). Undefined when the
 * chain never gets there: the interrupted apply cannot be completed with these diffs.
 */
export function minimalApplyingPrefix(base: MetaState, chain: readonly ChainStep[]): number | undefined {
  if (!base.isApplying) return 0;
  const i = chain.findIndex((step) => step.snap.gidB >= base.snapE.gidB);
  return i < 0 ? undefined : i + 1;
}

function requiredPrefix(base: MetaState, chain: readonly ChainStep[]): number {
  const min = minimalApplyingPrefix(base, chain);
  if (min !== undefined) return min;
  const reach = chain.length > 0 ? formatMetaSnap(chain[chain.length - 1]!.snap) : formatMetaSnap(base.snapB);
  throw new BlockwalError('NOT_FOUND', `cannot finish the interrupted apply of ${formatMetaState(base)}: the diffs reach only ${reach}`);
}

/** The number of leading steps whose snapshot gidB is at most `gid` (gidB grows along a chain). */
function stepsUpTo(chain: readonly ChainStep[], gid: number): number {
  const i = chain.findIndex((step) => step.snap.gidB > gid);
  return i < 0 ? chain.length : i;
}

/**
 * The diffs to apply to the base image to get exactly the clean snapshot `gid` (restore):
 * the chain up to `gid`, which must land on `|gid|` and include what an interrupted apply needs
 * (walb-tools `getDiffListToMaterializeSnapshot` with mustBeClean). Empty when the base is that
 * snapshot. UsageError when `gid` is not restorable; NOT_FOUND when an interrupted apply cannot
 * be finished.
 */
export function chainToGid(base: MetaState, diffs: readonly MetaDiff[], gid: number): MetaDiff[] {
  checkGid(gid);
  const chain = applicableChain(base, diffs);
  const min = requiredPrefix(base, chain);
  const n = stepsUpTo(chain, gid);
  const snap = n === 0 ? base.snapB : chain[n - 1]!.snap;
  if (n < min || snap.gidB !== gid || !isClean(snap)) {
    throw new UsageError(`gid ${gid} is not a restorable snapshot of base ${formatMetaState(base)}`, { gid });
  }
  return chain.slice(0, n).map((step) => step.diff);
}

/**
 * The diffs an archive applies into its base image for "apply up to `gid`" (walb-tools
 * `getDiffListToApply2`): the chain steps whose snapshot gidB is at most `gid`, cut to
 * `maxDiffs` if given (to apply in batches), but never fewer than an interrupted apply needs,
 * since those must be re-applied together. Empty when nothing is to be done. NOT_FOUND when an
 * interrupted apply cannot be finished.
 */
export function chainToApply(base: MetaState, diffs: readonly MetaDiff[], gid: number, options: { maxDiffs?: number } = {}): MetaDiff[] {
  checkGid(gid);
  const { maxDiffs } = options;
  if (maxDiffs !== undefined && (!Number.isSafeInteger(maxDiffs) || maxDiffs < 1)) {
    throw new UsageError(`maxDiffs must be a positive integer, got ${maxDiffs}`);
  }
  const chain = applicableChain(base, diffs);
  const n = Math.max(Math.min(stepsUpTo(chain, gid), maxDiffs ?? Infinity), requiredPrefix(base, chain));
  return chain.slice(0, n).map((step) => step.diff);
}

/** The diffs that are not on the applicable chain from `base`: garbage to delete (walb-tools `gc`). */
export function garbageDiffs(base: MetaState, diffs: readonly MetaDiff[]): MetaDiff[] {
  const live = new Set(applicableChain(base, diffs).map((step) => step.diff));
  return diffs.filter((d) => !live.has(d));
}
