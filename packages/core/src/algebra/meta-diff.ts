/**
 * MetaDiff: a diff `snapB --> snapE` turning snapshot snapB into snapshot snapE
 * (walb-formats §7.1, walb-tools-architecture §2.2).
 *
 * Invariant (walb-tools `MetaDiff::verify`): `snapB.gidB < snapE.gidB` (progress) and
 * `snapB.gidE <= snapE.gidE`. Clean iff both snapshots are clean.
 * - `isMergeable` (M): the snapshot at its start is implicit, so it may be merged into its predecessor.
 * - `isCompDiff` (C): made by comparing two images (hash replication); it applies only to exactly
 *   `snapB.gidB` and never merges.
 * - `timestamp`: unix seconds of the snapshot after applying it.
 * - `dataSize`: the file size in bytes (0 when unknown; wdiff names do not carry it).
 */

import { FormatError, UsageError } from '../errors.js';
import { checkTimestamp } from './timestamp.js';
import { formatMetaSnap, isClean, parseMetaSnap, snapEquals, toMetaSnap, type MetaSnap } from './meta-snap.js';

export interface MetaDiff {
  readonly snapB: MetaSnap;
  readonly snapE: MetaSnap;
  readonly isMergeable: boolean;
  readonly isCompDiff: boolean;
  readonly timestamp: number;
  readonly dataSize: number;
}

export interface MetaDiffOptions {
  isMergeable?: boolean;
  isCompDiff?: boolean;
  timestamp?: number;
  dataSize?: number;
}

/** The reason `snapB --> snapE` breaks the diff invariant, or undefined when it holds. */
function invariantBreak(snapB: MetaSnap, snapE: MetaSnap): string | undefined {
  if (snapB.gidB > snapB.gidE || snapE.gidB > snapE.gidE) return 'has a snapshot with gidB > gidE';
  if (snapB.gidB >= snapE.gidB) return 'must progress (snapB.gidB < snapE.gidB)';
  if (snapB.gidE > snapE.gidE) return 'must have snapB.gidE <= snapE.gidE';
  return undefined;
}

/**
 * A validated diff; a number stands for a clean snapshot (`metaDiff(10, 20)` is `|10|-->|20|`).
 * Defaults: not mergeable, not compared, timestamp 0, dataSize 0. UsageError when invalid.
 */
export function metaDiff(snapB: MetaSnap | number, snapE: MetaSnap | number, options: MetaDiffOptions = {}): MetaDiff {
  const b = toMetaSnap(snapB);
  const e = toMetaSnap(snapE);
  const broken = invariantBreak(b, e);
  if (broken) throw new UsageError(`diff ${formatMetaSnap(b)}-->${formatMetaSnap(e)} ${broken}`);
  return {
    snapB: b,
    snapE: e,
    isMergeable: options.isMergeable ?? false,
    isCompDiff: options.isCompDiff ?? false,
    timestamp: checkTimestamp(options.timestamp ?? 0),
    dataSize: checkDataSize(options.dataSize ?? 0),
  };
}

function checkDataSize(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new UsageError(`dataSize must be a byte count (an integer >= 0), got ${value}`);
  return value;
}

/** Like `metaDiff` but for decoded gids (already checked to be gids): a broken invariant is a FormatError. */
export function decodedMetaDiff(snapB: MetaSnap, snapE: MetaSnap, options: MetaDiffOptions): MetaDiff {
  const broken = invariantBreak(snapB, snapE);
  if (broken) throw new FormatError(`diff ${formatMetaSnap(snapB)}-->${formatMetaSnap(snapE)} ${broken}`);
  return metaDiff(snapB, snapE, options);
}

export function isCleanDiff(d: MetaDiff): boolean {
  return isClean(d.snapB) && isClean(d.snapE);
}

/** walb-tools equality: the same snapshots; flags, timestamp and size are not compared. */
export function diffEquals(a: MetaDiff, b: MetaDiff): boolean {
  return snapEquals(a.snapB, b.snapB) && snapEquals(a.snapE, b.snapE);
}

/** `|B|-->|E|` or `|B0,E0|-->|B1,E1|`. */
export function formatMetaDiff(d: MetaDiff): string {
  return `${formatMetaSnap(d.snapB)}-->${formatMetaSnap(d.snapE)}`;
}

/** Parses `SNAP-->SNAP` (the whole string); the other fields come from `options`. FormatError when invalid. */
export function parseMetaDiff(text: string, options: MetaDiffOptions = {}): MetaDiff {
  const arrow = text.indexOf('-->');
  if (arrow < 0) throw new FormatError(`not a diff (SNAP-->SNAP): '${text}'`);
  return decodedMetaDiff(parseMetaSnap(text.slice(0, arrow)), parseMetaSnap(text.slice(arrow + 3)), options);
}
