/**
 * Restorable snapshots of an archive (walb-tools-architecture §2.6, walb-tools `getRestorableList`).
 */

import type { MetaDiff } from './meta-diff.js';
import { isClean } from './meta-snap.js';
import type { MetaState } from './meta-state.js';
import { applicableChain, minimalApplyingPrefix } from './chain.js';

export interface RestorableSnapshot {
  readonly gid: number;
  /** Unix seconds: the timestamp of the diff that reached it (of the base state for the base). */
  readonly timestamp: number;
  /** Explicit snapshots are listed by default; implicit ones only on request and may be merged away. */
  readonly isExplicit: boolean;
}

/**
 * Every clean state along the applicable chain from `base`, oldest first. The first state is the
 * base itself (or, while applying, the state after the diffs that must be re-applied together);
 * it is listed if clean and counts as explicit, since walb-tools always lists it and no merge can
 * remove it. A later state is explicit if it is the last one or the next diff of the chain is not
 * mergeable. Empty if an interrupted apply cannot be finished with these diffs.
 */
export function restorableSnapshots(base: MetaState, diffs: readonly MetaDiff[]): RestorableSnapshot[] {
  const chain = applicableChain(base, diffs);
  const min = minimalApplyingPrefix(base, chain);
  if (min === undefined) return [];
  const out: RestorableSnapshot[] = [];
  const first = min === 0 ? { snap: base.snapB, timestamp: base.timestamp } : { snap: chain[min - 1]!.snap, timestamp: chain[min - 1]!.diff.timestamp };
  if (isClean(first.snap)) out.push({ gid: first.snap.gidB, timestamp: first.timestamp, isExplicit: true });
  for (let i = min; i < chain.length; i++) {
    const { diff, snap } = chain[i]!;
    const next = chain[i + 1];
    if (isClean(snap)) out.push({ gid: snap.gidB, timestamp: diff.timestamp, isExplicit: next === undefined || !next.diff.isMergeable });
  }
  return out;
}
