/**
 * Gid allocation, exactly as walb-tools (walb-tools-architecture §2.5, docs/pipeline.md §1):
 * a snapshot record at lsid L gets
 *
 *     gid = prev.gid + 1 + floor((L - prev.lsid) / chunkMaxPb)
 *
 * prev being the newest queued record (or the done record). The extra gids are reserved so that a
 * long stretch of log can be split into chunks of at most chunkMaxPb, each with its own
 * intermediate gid (chunk.ts). Pure functions: the caller persists the result before answering.
 */
import type { LsidGid } from './state.js';

/** chunkMaxBytes in physical blocks (at least 1). */
export function chunkMaxPb(chunkMaxBytes: number, pbs: number): number {
  return Math.max(1, Math.floor(chunkMaxBytes / pbs));
}

/** The newest record: the last queued one, else the done record. */
export function newestRecord(done: LsidGid, queue: readonly LsidGid[]): LsidGid {
  return queue.length > 0 ? queue[queue.length - 1]! : done;
}

export function allocateGid(prev: LsidGid, lsid: number, maxPb: number): number {
  if (!(lsid >= prev.lsid)) throw new RangeError(`snapshot lsid ${lsid} is below the previous record's ${prev.lsid}`);
  return prev.gid + 1 + Math.floor((lsid - prev.lsid) / maxPb);
}

/**
 * Appends a snapshot record at `lsid` (a durable logpack boundary). A lsid below the newest
 * record's (a cut that raced with an implicit snapshot) is moved up to it: the snapshot then
 * also holds writes made while it was being taken, which is allowed.
 *
 * A snapshot with no new log since the newest record names the same point in time: it gets that
 * record's gid (made explicit when asked for explicitly) instead of an empty diff, which proxies
 * refuse (an empty lsid range) and which would say nothing.
 */
export function pushSnapshot(
  done: LsidGid,
  queue: readonly LsidGid[],
  lsid: number,
  o: { mergeable: boolean; timestamp: number; maxPb: number },
): { record: LsidGid; done: LsidGid; queue: LsidGid[] } {
  const prev = newestRecord(done, queue);
  const at = Math.max(lsid, prev.lsid);
  if (at === prev.lsid) {
    const record: LsidGid = prev.mergeable && !o.mergeable ? { ...prev, mergeable: false } : prev;
    if (queue.length === 0) return { record, done: record, queue: [] };
    return { record, done, queue: [...queue.slice(0, -1), record] };
  }
  const record: LsidGid = { lsid: at, gid: allocateGid(prev, at, o.maxPb), mergeable: o.mergeable, timestamp: o.timestamp };
  return { record, done, queue: [...queue, record] };
}

/**
 * Whether the shipper adds an implicit snapshot at the durable end now: when durable log lies past
 * the newest record and the queue is empty or its newest record is older than the interval.
 */
export function needsImplicitSnapshot(done: LsidGid, queue: readonly LsidGid[], permanent: number, nowSec: number, intervalMs: number): boolean {
  const prev = newestRecord(done, queue);
  if (permanent <= prev.lsid) return false;
  return queue.length === 0 || (nowSec - prev.timestamp) * 1000 >= intervalMs;
}
