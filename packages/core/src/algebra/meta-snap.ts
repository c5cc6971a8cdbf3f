/**
 * MetaSnap: a snapshot `|B,E|` of one volume lineage (walb-formats §7.1, walb-tools-architecture §2.2).
 *
 * Clean when `gidB == gidE`: a true point in time. Dirty when `gidB < gidE`: each block comes from
 * some moment between gid B and gid E, which is what copying a live volume gives.
 *
 * gids are u64 in WalB; blockwal keeps them as JS numbers and accepts only safe integers
 * (0 ≤ gid ≤ 2^53 − 1). A larger gid is refused where it enters (constructor, parser, decoder).
 */

import { FormatError, UsageError } from '../errors.js';

export interface MetaSnap {
  readonly gidB: number;
  readonly gidE: number;
}

export function isGid(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** Returns `value` if it is a gid, else throws a UsageError naming `what`. */
export function checkGid(value: number, what = 'gid'): number {
  if (!isGid(value)) throw new UsageError(`${what} must be an integer from 0 to 2^53 - 1, got ${value}`);
  return value;
}

/** A validated snapshot `|gidB,gidE|`; one argument gives the clean snapshot `|gidB|`. */
export function metaSnap(gidB: number, gidE: number = gidB): MetaSnap {
  checkGid(gidB, 'gidB');
  checkGid(gidE, 'gidE');
  if (gidB > gidE) throw new UsageError(`snapshot |${gidB},${gidE}| must have gidB <= gidE`);
  return { gidB, gidE };
}

/** A validated copy of `s`; a number stands for the clean snapshot `|s|`. UsageError when invalid. */
export function toMetaSnap(s: MetaSnap | number): MetaSnap {
  return typeof s === 'number' ? metaSnap(s) : metaSnap(s.gidB, s.gidE);
}

export function isClean(s: MetaSnap): boolean {
  return s.gidB === s.gidE;
}

export function snapEquals(a: MetaSnap, b: MetaSnap): boolean {
  return a.gidB === b.gidB && a.gidE === b.gidE;
}

/** `|B|` when clean, `|B,E|` when dirty (walb-tools `MetaSnap::str`). */
export function formatMetaSnap(s: MetaSnap): string {
  return isClean(s) ? `|${s.gidB}|` : `|${s.gidB},${s.gidE}|`;
}

/** Parses a decimal gid (leading zeros allowed, as cybozu::atoi); FormatError otherwise. */
export function parseGid(text: string): number {
  const value = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!isGid(value)) throw new FormatError(`not a gid (decimal, at most 2^53 - 1): '${text}'`);
  return value;
}

const SNAP_TEXT = /^\|([0-9]+)(?:,([0-9]+))?\|$/;

/** Parses `|B|` or `|B,E|` (the whole string); FormatError on anything else. */
export function parseMetaSnap(text: string): MetaSnap {
  const m = SNAP_TEXT.exec(text);
  if (!m) throw new FormatError(`not a snapshot (|B| or |B,E|): '${text}'`);
  const gidB = parseGid(m[1]!);
  const gidE = m[2] === undefined ? gidB : parseGid(m[2]);
  if (gidB > gidE) throw new FormatError(`snapshot '${text}' must have gidB <= gidE`);
  return { gidB, gidE };
}
