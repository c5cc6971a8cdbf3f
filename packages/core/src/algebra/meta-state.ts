/**
 * MetaState: the state of an archive's base image (walb-formats §7.1–7.2, walb-tools-architecture
 * §2.2 "Applying state", §1.4 `base`, §6.4).
 *
 * `<snapB>` when steady. `<snapB --> snapE>` while diffs are being applied: the image is then
 * somewhere between the two block-wise, and only re-applying (at least) the diffs that reach
 * snapE gives a usable image again. `snapE` equals `snapB` when not applying. `timestamp` is the
 * time of the last diff applied (unix seconds).
 */

import { FormatError, UsageError } from '../errors.js';
import { formatMetaDiff, type MetaDiff } from './meta-diff.js';
import { formatMetaSnap, parseMetaSnap, toMetaSnap, type MetaSnap } from './meta-snap.js';
import { applyAll, canApplyAll } from './relation.js';
import { checkTimestamp, parseUtcTimestamp } from './timestamp.js';

export interface MetaState {
  readonly isApplying: boolean;
  readonly snapB: MetaSnap;
  readonly snapE: MetaSnap;
  readonly timestamp: number;
}

/**
 * A validated state: `<snapB>`, or `<snapB --> snapE>` (applying) when `snapE` is given, which
 * requires `snapB.gidB < snapE.gidB`. A number stands for a clean snapshot. UsageError when invalid.
 */
export function metaState(snapB: MetaSnap | number, timestamp = 0, snapE?: MetaSnap | number): MetaState {
  const b = toMetaSnap(snapB);
  checkTimestamp(timestamp);
  if (snapE === undefined) return { isApplying: false, snapB: b, snapE: b, timestamp };
  const e = toMetaSnap(snapE);
  if (b.gidB >= e.gidB) throw new UsageError(`applying state <${formatMetaSnap(b)}-->${formatMetaSnap(e)}> must progress`);
  return { isApplying: true, snapB: b, snapE: e, timestamp };
}

/** `<|B|>` or `<|B|-->|E|>` (walb-tools `MetaState::str`; the timestamp is not shown). */
export function formatMetaState(st: MetaState): string {
  const b = formatMetaSnap(st.snapB);
  return st.isApplying ? `<${b}-->${formatMetaSnap(st.snapE)}>` : `<${b}>`;
}

const STATE_TEXT = /^<(\|[^|]*\|)(?:-->(\|[^|]*\|))?>(?:-([0-9]+))?$/;

/**
 * Parses `<SNAP>` or `<SNAP-->SNAP>`, optionally followed by `-YYYYMMDDhhmmss` (walb-tools
 * `strToMetaState`); without that suffix the timestamp is `now`. FormatError when invalid.
 */
export function parseMetaState(text: string, now: number): MetaState {
  const m = STATE_TEXT.exec(text);
  if (!m) throw new FormatError(`not a meta state (<SNAP> or <SNAP-->SNAP>, then optionally -YYYYMMDDhhmmss): '${text}'`);
  const snapB = parseMetaSnap(m[1]!);
  const snapE = m[2] === undefined ? undefined : parseMetaSnap(m[2]);
  if (snapE && snapB.gidB >= snapE.gidB) throw new FormatError(`applying state '${text}' must progress`);
  return metaState(snapB, m[3] === undefined ? checkTimestamp(now, 'now') : parseUtcTimestamp(m[3]), snapE);
}

/**
 * walb-formats §7.2: the diffs apply one after the other to `st.snapB` and, while applying, reach
 * at least `st.snapE.gidB` (so every block the interrupted apply may have written is rewritten).
 */
export function canApplyToState(st: MetaState, diffs: readonly MetaDiff[]): boolean {
  if (!canApplyAll(st.snapB, diffs)) return false;
  return !st.isApplying || st.snapE.gidB <= applyAll(st.snapB, diffs).gidB;
}

function checkApplicable(st: MetaState, diffs: readonly MetaDiff[]): void {
  if (canApplyToState(st, diffs)) return;
  const list = diffs.map(formatMetaDiff).join(', ') || 'no diffs';
  throw new UsageError(`cannot apply [${list}] to state ${formatMetaState(st)}`);
}

function timestampAfter(st: MetaState, diffs: readonly MetaDiff[]): number {
  return diffs.length > 0 ? diffs[diffs.length - 1]!.timestamp : st.timestamp;
}

/** `<apply(st.snapB, diffs)>` with the last diff's timestamp; an empty list leaves a steady state as is. */
export function applyToState(st: MetaState, diffs: readonly MetaDiff[]): MetaState {
  checkApplicable(st, diffs);
  const snap = applyAll(st.snapB, diffs);
  return { isApplying: false, snapB: snap, snapE: snap, timestamp: timestampAfter(st, diffs) };
}

/**
 * The state to persist before writing `diffs` into the image: `<st.snapB --> apply(st.snapB, diffs)>`
 * with the last diff's timestamp. Also used to resume an interrupted apply (then `diffs` must
 * reach the old `snapE`). UsageError if `diffs` is empty or not applicable.
 */
export function beginApplying(st: MetaState, diffs: readonly MetaDiff[]): MetaState {
  if (diffs.length === 0) throw new UsageError(`beginApplying ${formatMetaState(st)}: no diffs`);
  checkApplicable(st, diffs);
  return { isApplying: true, snapB: st.snapB, snapE: applyAll(st.snapB, diffs), timestamp: timestampAfter(st, diffs) };
}

/** The state to persist once `diffs` are written: like `applyToState`, but `st` must be applying. */
export function endApplying(st: MetaState, diffs: readonly MetaDiff[]): MetaState {
  if (!st.isApplying) throw new UsageError(`endApplying: state ${formatMetaState(st)} is not applying`);
  return applyToState(st, diffs);
}
