import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  diffEquals,
  FormatError,
  formatMetaDiff,
  formatMetaSnap,
  formatMetaState,
  formatUtcTimestamp,
  MAX_TIMESTAMP,
  metaDiff,
  metaSnap,
  metaState,
  parseGid,
  parseMetaDiff,
  parseMetaSnap,
  parseMetaState,
  parseUtcTimestamp,
  UsageError,
} from '@blockwal/core';
import { diffArb, snapArb, timestampArb } from './support/meta-arb.js';

const RUNS = { numRuns: 1000 };
const MAX_GID = Number.MAX_SAFE_INTEGER;

describe('algebra: text forms and validation (walb-formats §7.1)', () => {
  it('formats and parses snapshots', () => {
    assert.equal(formatMetaSnap(metaSnap(5)), '|5|');
    assert.equal(formatMetaSnap(metaSnap(5, 7)), '|5,7|');
    assert.deepEqual(parseMetaSnap('|5|'), metaSnap(5));
    assert.deepEqual(parseMetaSnap('|05,7|'), metaSnap(5, 7));
    for (const bad of ['|7,5|', '|a|', '|5', '5', '|5|x', '|-1|', '|5,|', '||', '|9007199254740992|', '|18446744073709551615|']) {
      assert.throws(() => parseMetaSnap(bad), FormatError, bad);
    }
  });

  it('accepts only gids that are safe integers', () => {
    assert.deepEqual(metaSnap(MAX_GID), { gidB: MAX_GID, gidE: MAX_GID });
    for (const bad of [-1, 1.5, MAX_GID + 1, Number.NaN, Infinity]) assert.throws(() => metaSnap(bad), UsageError, String(bad));
    assert.throws(() => metaSnap(5, 4), UsageError);
    assert.equal(parseGid('0042'), 42);
    assert.throws(() => parseGid(''), FormatError);
    assert.throws(() => parseGid('+1'), FormatError);
  });

  it('validates diffs: progress and snapB.gidE <= snapE.gidE', () => {
    assert.deepEqual(metaDiff(10, 20), {
      snapB: metaSnap(10), snapE: metaSnap(20), isMergeable: false, isCompDiff: false, timestamp: 0, dataSize: 0,
    });
    assert.throws(() => metaDiff(10, 10), UsageError);
    assert.throws(() => metaDiff(20, 10), UsageError);
    assert.throws(() => metaDiff(metaSnap(10, 30), metaSnap(20, 25)), UsageError);
    assert.throws(() => metaDiff(10, 20, { timestamp: -1 }), UsageError);
    assert.throws(() => metaDiff(10, 20, { dataSize: 0.5 }), UsageError);
    assert.ok(diffEquals(metaDiff(10, 20), metaDiff(10, 20, { isMergeable: true, timestamp: 5 })));
    assert.ok(!diffEquals(metaDiff(10, 20), metaDiff(10, metaSnap(20, 21))));
  });

  it('formats and parses diffs', () => {
    assert.equal(formatMetaDiff(metaDiff(10, 20)), '|10|-->|20|');
    assert.equal(formatMetaDiff(metaDiff(metaSnap(300, 400), metaSnap(70000, 70001))), '|300,400|-->|70000,70001|');
    assert.deepEqual(parseMetaDiff('|10|-->|20|', { isMergeable: true }), metaDiff(10, 20, { isMergeable: true }));
    for (const bad of ['|20|-->|10|', '|10|->|20|', '|10|-->|20', '|10,30|-->|20,25|']) assert.throws(() => parseMetaDiff(bad), FormatError, bad);
  });

  it('formats and parses states, with an optional -YYYYMMDDhhmmss suffix', () => {
    assert.equal(formatMetaState(metaState(5)), '<|5|>');
    assert.equal(formatMetaState(metaState(5, 0, metaSnap(7, 9))), '<|5|-->|7,9|>');
    assert.deepEqual(parseMetaState('<|5|>', 123), metaState(5, 123));
    assert.deepEqual(parseMetaState('<|5|-->|7,9|>-20231114221320', 0), metaState(5, 1_700_000_000, metaSnap(7, 9)));
    for (const bad of ['<|5|-->|5|>', '<|5|>-2023', '<|5|', '|5|', '<|5|>x', '<|5|-->>']) assert.throws(() => parseMetaState(bad, 0), FormatError, bad);
  });

  it('formats and parses UTC timestamps as cybozu does', () => {
    assert.equal(formatUtcTimestamp(0), '19700101000000');
    assert.equal(formatUtcTimestamp(1_700_000_000), '20231114221320');
    assert.equal(formatUtcTimestamp(MAX_TIMESTAMP), '99991231235959');
    assert.throws(() => formatUtcTimestamp(MAX_TIMESTAMP + 1), UsageError);
    assert.equal(parseUtcTimestamp('20231114221320'), 1_700_000_000);
    assert.equal(parseUtcTimestamp('20240230000000'), parseUtcTimestamp('20240301000000'), 'a day past the month rolls over');
    assert.equal(parseUtcTimestamp('20240101000060'), parseUtcTimestamp('20240101000100'), 'second 60 rolls over');
    const reasons: [string, RegExp][] = [
      ['2024010203', /invalid time string/],
      ['2024010203040x', /invalid time string/],
      ['18991231235959', /year must be between 1900 and 9999/],
      ['20241301000000', /mon must be between 1 and 12/],
      ['20240100000000', /mday must be between 1 and 31/],
      ['20240101240000', /hour must be between 0 and 23/],
      ['20240101006000', /min must be between 0 and 59/],
      ['20240101000061', /sec must be between 0 and 60/],
      ['19691231235959', /before 1970/],
    ];
    for (const [text, reason] of reasons) assert.throws(() => parseUtcTimestamp(text), (e: unknown) => e instanceof FormatError && reason.test(e.message), text);
  });

  it('parses what it formats', () => {
    fc.assert(
      fc.property(snapArb, diffArb, timestampArb, fc.boolean(), (s, d, ts, applying) => {
        assert.deepEqual(parseMetaSnap(formatMetaSnap(s)), s);
        assert.equal(parseUtcTimestamp(formatUtcTimestamp(ts)), ts);
        const { isMergeable, isCompDiff, timestamp, dataSize } = d;
        assert.deepEqual(parseMetaDiff(formatMetaDiff(d), { isMergeable, isCompDiff, timestamp, dataSize }), d);
        const st = applying ? metaState(d.snapB, ts, d.snapE) : metaState(s, ts);
        assert.deepEqual(parseMetaState(formatMetaState(st), ts), st);
        assert.deepEqual(parseMetaState(`${formatMetaState(st)}-${formatUtcTimestamp(ts)}`, 0), st);
      }),
      RUNS,
    );
  });
});
