/**
 * What to forward next from one archive's spool of one volume: a pure decision over the spooled
 * diffs and `now` (walb-tools-architecture §4.3 step 1, DESIGN.md "Forward").
 *
 * - Lineages (device uuids) go oldest first (by when their first diff arrived); never mixed.
 * - Within the lineage, the max-progress chain from its oldest diff (overlaps and duplicates may
 *   coexist in a spool; only the chain is sent, the rest is covered and deleted with it).
 * - The first run of that chain whose diffs merge left to right (a run ends before an explicit
 *   snapshot, a compared diff or a gap), cut at `mergeMaxDiffs` diffs and `mergeMaxBytes` bytes
 *   of input (at least one diff), and at the first diff younger than `sendDelayMs`.
 */
import { applicableChain, contains, getMaxProgressDiff, getRelation, mergeAll, mergeableRuns, metaState, type MetaDiff, type MetaSnap } from '@blockwal/core';
import type { SpoolDiff } from './store.js';

export interface PlanLimits {
  mergeMaxBytes: number;
  mergeMaxDiffs: number;
  sendDelayMs: number;
}

export type ForwardPlan =
  /** Send `batch` (one lineage, a mergeable run in chain order) as the single diff `diff`. */
  | { kind: 'send'; uuid: string; batch: SpoolDiff[]; diff: MetaDiff }
  /** The next diff is held by sendDelayMs until `atMs`. */
  | { kind: 'wait'; atMs: number }
  /** Nothing to send. */
  | { kind: 'idle' };

export function planForward(spool: readonly SpoolDiff[], limits: PlanLimits, nowMs: number): ForwardPlan {
  const lineage = oldestLineage(spool);
  if (lineage.length === 0) return { kind: 'idle' };
  const byDiff = new Map<MetaDiff, SpoolDiff>(lineage.map((s) => [s.diff, s]));
  const diffs = lineage.map((s) => s.diff);
  const minGid = Math.min(...diffs.map((d) => d.snapB.gidB));
  const start = getMaxProgressDiff(diffs.filter((d) => d.snapB.gidB === minGid));
  const chain = applicableChain(metaState(start.snapB), diffs).map((step) => byDiff.get(step.diff)!);
  const run = mergeableRuns(chain.map((s) => s.diff))[0]!.map((d) => byDiff.get(d)!);
  const batch: SpoolDiff[] = [];
  let bytes = 0;
  for (const s of run) {
    if (s.receivedMs + limits.sendDelayMs > nowMs) {
      if (batch.length === 0) return { kind: 'wait', atMs: s.receivedMs + limits.sendDelayMs };
      break;
    }
    if (batch.length > 0 && (batch.length >= limits.mergeMaxDiffs || bytes + s.bytes > limits.mergeMaxBytes)) break;
    batch.push(s);
    bytes += s.bytes;
  }
  const diff = batch.length === 1 ? batch[0]!.diff : mergeAll(batch.map((s) => s.diff));
  return { kind: 'send', uuid: batch[0]!.uuid, batch, diff: { ...diff, dataSize: 0 } };
}

/** The diffs of the lineage whose first diff arrived first (ties: by uuid). */
function oldestLineage(spool: readonly SpoolDiff[]): SpoolDiff[] {
  const first = new Map<string, number>();
  for (const s of spool) first.set(s.uuid, Math.min(first.get(s.uuid) ?? Infinity, s.receivedMs));
  let best: string | undefined;
  for (const [uuid, t] of first) if (best === undefined || t < first.get(best)! || (t === first.get(best)! && uuid < best)) best = uuid;
  return spool.filter((s) => s.uuid === best);
}

/** The spool diffs of `uuid` that `sent` makes redundant (`contains`). */
export function coveredBy(spool: readonly SpoolDiff[], uuid: string, sent: MetaDiff): SpoolDiff[] {
  return spool.filter((s) => s.uuid === uuid && contains(sent, s.diff));
}

/** The spool diffs of `uuid` an archive at snapshot `latest` no longer needs (too old). */
export function tooOldFor(spool: readonly SpoolDiff[], uuid: string, latest: MetaSnap): SpoolDiff[] {
  return spool.filter((s) => s.uuid === uuid && getRelation(latest, s.diff) === 'too-old');
}
