/**
 * MetaLsidGid: the storage side's mapping of a log position to a gid — its `done` record and
 * the entries of its snapshot queue (walb-formats §7.1, walb-tools-architecture §2.5).
 */

import { UsageError } from '../errors.js';
import { checkGid } from './meta-snap.js';
import { checkTimestamp } from './timestamp.js';

export interface MetaLsidGid {
  /** The snapshot at this point is implicit (a diff starting here may be merged into its predecessor). */
  readonly isMergeable: boolean;
  /** Unix seconds when the snapshot was taken. */
  readonly timestamp: number;
  /** Log position in physical blocks. */
  readonly lsid: number;
  readonly gid: number;
}

/** A validated record; lsid and gid must be safe integers ≥ 0. UsageError otherwise. */
export function metaLsidGid(lsid: number, gid: number, options: { isMergeable?: boolean; timestamp?: number } = {}): MetaLsidGid {
  if (!Number.isSafeInteger(lsid) || lsid < 0) throw new UsageError(`lsid must be an integer from 0 to 2^53 - 1, got ${lsid}`);
  return { isMergeable: options.isMergeable ?? false, timestamp: checkTimestamp(options.timestamp ?? 0), lsid, gid: checkGid(gid) };
}
