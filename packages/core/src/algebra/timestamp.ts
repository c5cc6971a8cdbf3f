/**
 * Timestamps of the meta model: unix seconds, always UTC (walb-formats §7.1, §7.4).
 * Text form `YYYYMMDDhhmmss` as in wdiff file names and `MetaState` text, like cybozu
 * `unixTimeToStr` / `strToUnixTime`.
 */

import { FormatError, UsageError } from '../errors.js';

/** 9999-12-31T23:59:59Z: the last second that `YYYYMMDDhhmmss` can show. */
export const MAX_TIMESTAMP = 253_402_300_799;

/** Returns `value` if it is a timestamp (unix seconds, a safe integer ≥ 0), else throws a UsageError. */
export function checkTimestamp(value: number, what = 'timestamp'): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new UsageError(`${what} must be unix seconds (an integer >= 0), got ${value}`);
  return value;
}

/** Unix seconds → `YYYYMMDDhhmmss` in UTC. UsageError past year 9999. */
export function formatUtcTimestamp(ts: number): string {
  checkTimestamp(ts);
  if (ts > MAX_TIMESTAMP) throw new UsageError(`timestamp ${ts} is after year 9999 and has no YYYYMMDDhhmmss form`);
  const d = new Date(ts * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    String(d.getUTCFullYear()).padStart(4, '0') +
    two(d.getUTCMonth() + 1) +
    two(d.getUTCDate()) +
    two(d.getUTCHours()) +
    two(d.getUTCMinutes()) +
    two(d.getUTCSeconds())
  );
}

/**
 * `YYYYMMDDhhmmss` (UTC) → unix seconds, with the checks and messages of cybozu `strToUnixTime`:
 * 14 digits, year 1900–9999, month 1–12, day 1–31, hour 0–23, minute 0–59, second 0–60; an
 * out-of-month day or second 60 rolls over like `timegm` (20240230… is 1 March).
 * Stricter than walb-tools: a time before 1970 is refused (blockwal timestamps are ≥ 0).
 */
export function parseUtcTimestamp(text: string): number {
  if (!/^[0-9]{14}$/.test(text)) throw new FormatError(`invalid time string: '${text}'`);
  const field = (at: number, len: number) => Number(text.slice(at, at + len));
  const [year, mon, mday, hour, min, sec] = [field(0, 4), field(4, 2), field(6, 2), field(8, 2), field(10, 2), field(12, 2)];
  const check = (ok: boolean, rule: string) => {
    if (!ok) throw new FormatError(`${rule}: '${text}'`);
  };
  check(year >= 1900 && year <= 9999, 'year must be between 1900 and 9999');
  check(mon >= 1 && mon <= 12, 'mon must be between 1 and 12');
  check(mday >= 1 && mday <= 31, 'mday must be between 1 and 31');
  check(hour <= 23, 'hour must be between 0 and 23');
  check(min <= 59, 'min must be between 0 and 59');
  check(sec <= 60, 'sec must be between 0 and 60');
  const ts = Date.UTC(year, mon - 1, mday, hour, min, sec) / 1000;
  check(ts >= 0, 'time before 1970 is not supported');
  return ts;
}
