/**
 * How a diff relates to a snapshot, and applying diffs to snapshots
 * (walb-formats §7.2, walb-tools-architecture §2.2 "Rules").
 */

import { UsageError } from '../errors.js';
import { formatMetaDiff, isCleanDiff, type MetaDiff } from './meta-diff.js';
import { formatMetaSnap, type MetaSnap } from './meta-snap.js';

/**
 * - `too-old`: the snapshot already contains everything the diff brings (drop it);
 * - `applicable`: the diff may be applied now;
 * - `too-new`: the diff starts after the snapshot (a diff in between is missing; retry later);
 * - `not-applicable`: a compared diff that does not start exactly at the snapshot.
 */
export type Relation = 'too-old' | 'applicable' | 'too-new' | 'not-applicable';

/**
 * walb-tools `getRelation`: a compared diff is applicable iff `d.snapB.gidB == s.gidB`; any other
 * diff is too new if `d.snapB.gidB > s.gidB`, too old if `d.snapE.gidB <= s.gidB`, else
 * applicable (`d.snapB.gidB <= s.gidB < d.snapE.gidB`).
 */
export function getRelation(s: MetaSnap, d: MetaDiff): Relation {
  if (d.isCompDiff) return d.snapB.gidB === s.gidB ? 'applicable' : 'not-applicable';
  if (d.snapB.gidB > s.gidB) return 'too-new';
  if (d.snapE.gidB <= s.gidB) return 'too-old';
  return 'applicable';
}

export function canApply(s: MetaSnap, d: MetaDiff): boolean {
  return getRelation(s, d) === 'applicable';
}

/**
 * The snapshot after applying `d` to `s`: `|d.snapE.gidB, max(d.snapE.gidB, s.gidE)|` for a clean
 * diff (a dirty image stays dirty until the diffs reach its gidE), else `d.snapE`.
 * UsageError unless `canApply(s, d)`.
 */
export function apply(s: MetaSnap, d: MetaDiff): MetaSnap {
  const rel = getRelation(s, d);
  if (rel !== 'applicable') throw new UsageError(`cannot apply diff ${formatMetaDiff(d)} to snapshot ${formatMetaSnap(s)}: ${rel}`);
  if (!isCleanDiff(d)) return d.snapE;
  return { gidB: d.snapE.gidB, gidE: Math.max(d.snapE.gidB, s.gidE) };
}

/** True if the diffs apply one after the other, each to the result of the previous ones. */
export function canApplyAll(s: MetaSnap, diffs: readonly MetaDiff[]): boolean {
  let cur = s;
  for (const d of diffs) {
    if (!canApply(cur, d)) return false;
    cur = apply(cur, d);
  }
  return true;
}

/** Applies the diffs in order (each must be applicable to the running result); UsageError otherwise. */
export function applyAll(s: MetaSnap, diffs: readonly MetaDiff[]): MetaSnap {
  return diffs.reduce(apply, s);
}

/** walb-tools `contains`: `d` is redundant given `c` (`c.snapB.gidB <= d.snapB.gidB` and `d.snapE.gidB <= c.snapE.gidB`). */
export function contains(c: MetaDiff, d: MetaDiff): boolean {
  return c.snapB.gidB <= d.snapB.gidB && d.snapE.gidB <= c.snapE.gidB;
}

/** True if `a` makes more progress than `b`: larger snapE.gidB, then larger snapB.gidB. */
export function hasMoreProgress(a: MetaDiff, b: MetaDiff): boolean {
  return a.snapE.gidB > b.snapE.gidB || (a.snapE.gidB === b.snapE.gidB && a.snapB.gidB > b.snapB.gidB);
}

/** walb-tools `getMaxProgressDiff`: the diff of most progress; the first one wins on full ties. UsageError if empty. */
export function getMaxProgressDiff(diffs: readonly MetaDiff[]): MetaDiff {
  if (diffs.length === 0) throw new UsageError('getMaxProgressDiff: no diffs');
  return diffs.reduce((best, d) => (hasMoreProgress(d, best) ? d : best));
}
