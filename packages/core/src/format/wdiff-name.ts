/**
 * wdiff file names (walb-formats §7.4, walb-tools-architecture §2.3): all the metadata of an
 * archive's or a proxy's diff lives in its file name.
 *
 * ```
 * clean: YYYYMMDDhhmmss-MC-<snapB.gidB>-<snapE.gidB>.wdiff
 * dirty: YYYYMMDDhhmmss-MC-<snapB.gidB>-<snapB.gidE>-<snapE.gidB>-<snapE.gidE>.wdiff
 * ```
 * The time is the diff's timestamp in UTC; `M` = mergeable else `-`; `C` = compared else `-`;
 * gids are decimal; the four-gid form is used iff a snapshot is dirty.
 */

import { BlockwalError, FormatError, UsageError } from '../errors.js';
import { decodedMetaDiff, isCleanDiff, metaDiff, type MetaDiff } from '../algebra/meta-diff.js';
import { isGid, parseGid } from '../algebra/meta-snap.js';
import { checkTimestamp, formatUtcTimestamp, parseUtcTimestamp } from '../algebra/timestamp.js';

export const WDIFF_EXTENSION = '.wdiff';

/** The shortest name walb-tools accepts: `YYYYMMDDhhmmss-MC-0-1.wdiff`. */
const MIN_NAME_LENGTH = 27;

/** walb-tools `createDiffFileName`. UsageError if the timestamp is after year 9999. */
export function formatWdiffName(d: MetaDiff): string {
  const gids = isCleanDiff(d) ? [d.snapB.gidB, d.snapE.gidB] : [d.snapB.gidB, d.snapB.gidE, d.snapE.gidB, d.snapE.gidE];
  return `${formatUtcTimestamp(d.timestamp)}-${d.isMergeable ? 'M' : '-'}${d.isCompDiff ? 'C' : '-'}-${gids.join('-')}${WDIFF_EXTENSION}`;
}

/**
 * walb-tools `parseDiffFileName`, exactly as lenient: at least 27 characters; characters 0–13 a
 * valid UTC time (see `parseUtcTimestamp`; 20240230… rolls over to 1 March); character 14 `-`;
 * mergeable iff character 15 is `M` and compared iff character 16 is `C` (anything else means
 * no); character 17 `-`; then up to four `-`-separated decimal gids (leading zeros allowed), the
 * last one ended by the first `.wdiff` (text after it is ignored unless it holds a `-`) — after a
 * fourth `-`-ended gid the rest is ignored; two or four gids; the diff invariant must hold.
 * A directory scan should pass only names ending in `.wdiff`. dataSize is 0: fill it from stat.
 *
 * Stricter than walb-tools: a gid above 2^53 − 1 and a time before 1970 are refused.
 * Throws a FormatError naming the file.
 */
export function parseWdiffName(name: string): MetaDiff {
  try {
    return parseName(name);
  } catch (e) {
    throw e instanceof BlockwalError ? e.at({ file: name }) : e;
  }
}

function parseName(name: string): MetaDiff {
  if (name.length < MIN_NAME_LENGTH) throw new FormatError('too short for a wdiff name');
  const timestamp = parseUtcTimestamp(name.slice(0, 14));
  if (name[14] !== '-') throw new FormatError("expected '-' after the timestamp");
  if (name[17] !== '-') throw new FormatError("expected '-' after the flags");
  const gids: number[] = [];
  let rest = name.slice(18);
  for (let i = 0; i < 4; i++) {
    const dash = rest.indexOf('-');
    const end = dash >= 0 ? dash : rest.indexOf(WDIFF_EXTENSION);
    if (end < 0) throw new FormatError(`no '${WDIFF_EXTENSION}' after the last gid`);
    gids.push(parseGid(rest.slice(0, end)));
    if (dash < 0) break;
    rest = rest.slice(dash + 1);
  }
  if (gids.length !== 2 && gids.length !== 4) throw new FormatError(`expected 2 or 4 gids, got ${gids.length}`);
  const [b0, b1, e0, e1] = gids.length === 2 ? [gids[0]!, gids[0]!, gids[1]!, gids[1]!] : (gids as [number, number, number, number]);
  return decodedMetaDiff({ gidB: b0, gidE: b1 }, { gidB: e0, gidE: e1 }, { isMergeable: name[15] === 'M', isCompDiff: name[16] === 'C', timestamp });
}

/** The arguments of walb-tools `wdiff-name-gen [-d YYYYMMDDhhmmss] [-nomerge] [-comp] GID...`. */
export interface WdiffNameArgs {
  /**
   * `B E` (clean) or `B0 E0 B1 E1`. Strings are read like cybozu options: decimal or `0x` hex,
   * optionally times k/m/g (10^3n) or K/M/G (2^10n).
   */
  readonly gids: readonly (number | string)[];
  readonly mergeable: boolean;
  readonly compared: boolean;
  /** Unix seconds, a Date, or `YYYYMMDDhhmmss` in UTC; default `now`. */
  readonly time?: Date | number | string;
}

/**
 * What `wdiff-name-gen` prints for these arguments (the `blockwal wdiff name` command), with the
 * time given by `args.time` or else `now` (unix seconds). UsageError on a bad argument.
 *
 * Stricter than wdiff-name-gen, which checks neither the gid order nor the diff invariant (`20 10`
 * gives `…-20-10.wdiff`, a name its own parser then refuses): blockwal requires a valid diff, and
 * gids up to 2^53 − 1 (wdiff-name-gen takes any u64), and a time from 1970 to 9999.
 */
export function wdiffNameFromArgs(args: WdiffNameArgs, now: number): string {
  const g = args.gids.map(gidArg);
  if (g.length !== 2 && g.length !== 4) throw new UsageError(`specify two or four gids, got ${g.length}`);
  const [snapB, snapE] = g.length === 2 ? [g[0]!, g[1]!] : [{ gidB: g[0]!, gidE: g[1]! }, { gidB: g[2]!, gidE: g[3]! }];
  const timestamp = timeArg(args.time ?? now);
  return formatWdiffName(metaDiff(snapB, snapE, { isMergeable: args.mergeable, isCompDiff: args.compared, timestamp }));
}

const SUFFIX_FACTOR: Readonly<Record<string, number>> = { '': 1, k: 1e3, m: 1e6, g: 1e9, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

function gidArg(arg: number | string): number {
  if (typeof arg === 'number') return arg;
  const m = /^(?:0x([0-9a-fA-F]+)|([0-9]+))([kmgKMG]?)$/.exec(arg);
  const value = m ? Number(m[1] !== undefined ? `0x${m[1]}` : m[2]) * SUFFIX_FACTOR[m[3]!]! : Number.NaN;
  if (!isGid(value)) throw new UsageError(`not a gid (an integer from 0 to 2^53 - 1): '${arg}'`);
  return value;
}

function timeArg(time: Date | number | string): number {
  if (typeof time === 'number') return checkTimestamp(time, 'time');
  if (time instanceof Date) return checkTimestamp(Math.floor(time.getTime() / 1000), 'time');
  try {
    return parseUtcTimestamp(time);
  } catch (e) {
    throw e instanceof BlockwalError ? new UsageError(e.what) : e;
  }
}
