/**
 * Cutting the next chunk of log to ship (walb-tools-architecture §2.5):
 *  - start at the done record; end at the oldest queued record, extended to newer records while
 *    the end record is implicit (mergeable) and the next one stays within chunkMaxPb of done and
 *    within the durable log: an explicit snapshot always ends a chunk;
 *  - a chunk that would be longer than chunkMaxPb stops at a logpack boundary (at most chunkMaxPb
 *    past done, at least one pack) with the reserved intermediate gid done.gid + 1 (mergeable,
 *    the done record's timestamp), as long as a reserved gid is left below the end record's;
 *  - an end beyond the durable log waits;
 *  - the diff is |done.gid| --> |end.gid|, mergeable when done is, with the end's timestamp.
 * Pure functions; the shipper finds the logpack boundary and persists the result.
 */
import type { LsidGid } from './state.js';

export type ChunkPlan =
  | { kind: 'record'; begin: number; end: LsidGid; records: number }
  | { kind: 'split'; begin: number; limit: number; gid: number; timestamp: number; end: LsidGid; records: number };

export function planChunk(done: LsidGid, queue: readonly LsidGid[], permanent: number, maxPb: number): ChunkPlan | null {
  if (queue.length === 0) return null;
  let i = 0;
  while (queue[i]!.mergeable && i + 1 < queue.length && queue[i + 1]!.lsid <= done.lsid + maxPb && queue[i + 1]!.lsid <= permanent) i++;
  const end = queue[i]!;
  if (end.lsid > permanent) return null;
  if (end.lsid - done.lsid > maxPb && end.gid > done.gid + 1) {
    return { kind: 'split', begin: done.lsid, limit: done.lsid + maxPb, gid: done.gid + 1, timestamp: done.timestamp, end, records: i + 1 };
  }
  return { kind: 'record', begin: done.lsid, end, records: i + 1 };
}

/**
 * A split chunk once its logpack boundary is known: the intermediate record, or the whole chunk
 * to the end record when the first pack already reaches it.
 */
export function resolveSplit(plan: ChunkPlan, boundary: number): { plan: ChunkPlan; end: LsidGid } {
  if (plan.kind === 'record') return { plan, end: plan.end };
  if (boundary >= plan.end.lsid) return { plan: { kind: 'record', begin: plan.begin, end: plan.end, records: plan.records }, end: plan.end };
  return { plan, end: { lsid: boundary, gid: plan.gid, mergeable: true, timestamp: plan.timestamp } };
}

export interface ChunkDiff {
  gidB: number;
  gidE: number;
  mergeable: boolean;
  timestamp: number;
}

export function chunkDiff(done: LsidGid, end: LsidGid): ChunkDiff {
  return { gidB: done.gid, gidE: end.gid, mergeable: done.mergeable, timestamp: end.timestamp };
}

/**
 * The done record and queue once a proxy acknowledged the chunk. `queue` is the queue now: records
 * may have been appended meanwhile, and the end record may have been made explicit (a snapshot
 * with no new log): its current version becomes the done record.
 */
export function afterAck(queue: readonly LsidGid[], plan: ChunkPlan, end: LsidGid): { done: LsidGid; queue: LsidGid[] } {
  if (plan.kind === 'split') return { done: end, queue: [...queue] };
  const now = queue[plan.records - 1];
  if (!now || now.gid !== end.gid || now.lsid !== end.lsid) throw new RangeError(`the queue changed under the chunk ending at gid ${end.gid}`);
  return { done: now, queue: queue.slice(plan.records) };
}
