import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  apply,
  applyAll,
  canApply,
  canApplyAll,
  contains,
  getMaxProgressDiff,
  getRelation,
  metaDiff,
  metaSnap,
  UsageError,
  type MetaDiff,
  type MetaSnap,
} from '@blockwal/core';
import { applyData, differing, timelineArb } from './support/block-model.js';

const RUNS = { numRuns: 1000 };

/** Any valid snapshot and diff over gids 0..12, with random flags. */
const snapArb = fc.tuple(fc.nat(12), fc.nat(3)).map(([b, w]) => metaSnap(b, b + w));
const diffArb: fc.Arbitrary<MetaDiff> = fc
  .record({ b: fc.nat(10), bw: fc.nat(2), step: fc.integer({ min: 1, max: 4 }), ew: fc.nat(3), m: fc.boolean(), c: fc.boolean() })
  .map(({ b, bw, step, ew, m, c }) => metaDiff(metaSnap(b, b + bw), metaSnap(b + step, b + bw + step + ew), { isMergeable: m, isCompDiff: c }));

describe('algebra: relation of a diff to a snapshot (walb-formats §7.2)', () => {
  const log = metaDiff(10, 20);
  it('classifies a log diff as too new, applicable or too old', () => {
    assert.equal(getRelation(metaSnap(9), log), 'too-new');
    assert.equal(getRelation(metaSnap(10), log), 'applicable');
    assert.equal(getRelation(metaSnap(15), log), 'applicable');
    assert.equal(getRelation(metaSnap(19, 30), log), 'applicable');
    assert.equal(getRelation(metaSnap(20), log), 'too-old');
    assert.equal(getRelation(metaSnap(25), log), 'too-old');
  });

  it('applies a compared diff only at exactly its start', () => {
    const comp = metaDiff(10, 20, { isCompDiff: true });
    assert.equal(getRelation(metaSnap(10), comp), 'applicable');
    assert.equal(getRelation(metaSnap(10, 12), comp), 'applicable');
    assert.equal(getRelation(metaSnap(9), comp), 'not-applicable');
    assert.equal(getRelation(metaSnap(11), comp), 'not-applicable');
    assert.equal(getRelation(metaSnap(20), comp), 'not-applicable');
  });

  it('applies a clean diff keeping the dirty end, and a dirty diff giving its end snapshot', () => {
    assert.deepEqual(apply(metaSnap(15), log), metaSnap(20));
    assert.deepEqual(apply(metaSnap(12, 25), log), metaSnap(20, 25));
    assert.deepEqual(apply(metaSnap(12, 18), log), metaSnap(20));
    const hashBackup = metaDiff(5, metaSnap(6, 9));
    assert.deepEqual(apply(metaSnap(5), hashBackup), metaSnap(6, 9));
  });

  it('makes a dirty full copy |x,y| clean once log diffs reach y (model theorem, §3.2)', () => {
    const copy = metaSnap(0, 10);
    assert.deepEqual(apply(copy, metaDiff(0, 4)), metaSnap(4, 10));
    assert.deepEqual(applyAll(copy, [metaDiff(0, 4), metaDiff(4, 12)]), metaSnap(12));
    assert.deepEqual(apply(copy, metaDiff(0, 10)), metaSnap(10));
  });

  it('refuses to apply a diff that is not applicable, naming the relation', () => {
    assert.throws(() => apply(metaSnap(20), log), (e: unknown) => e instanceof UsageError && /too-old/.test(e.message));
    assert.throws(() => apply(metaSnap(5), log), /too-new/);
    assert.throws(() => apply(metaSnap(11), metaDiff(10, 20, { isCompDiff: true })), /not-applicable/);
    assert.equal(canApplyAll(metaSnap(0), [metaDiff(0, 5), metaDiff(6, 8)]), false);
    assert.throws(() => applyAll(metaSnap(0), [metaDiff(0, 5), metaDiff(6, 8)]), UsageError);
    assert.deepEqual(applyAll(metaSnap(3), []), metaSnap(3));
  });

  it('finds redundant diffs with contains', () => {
    assert.equal(contains(metaDiff(10, 30), metaDiff(10, 20)), true);
    assert.equal(contains(metaDiff(10, 30), metaDiff(15, 30)), true);
    assert.equal(contains(metaDiff(10, 30), metaDiff(9, 20)), false);
    assert.equal(contains(metaDiff(10, 30), metaDiff(20, 31)), false);
  });

  it('picks the max-progress diff: largest end, then largest start, then the first', () => {
    const a = metaDiff(10, 20);
    const b = metaDiff(12, 20);
    const c = metaDiff(5, 18);
    const b2 = metaDiff(12, 20, { isMergeable: true });
    assert.equal(getMaxProgressDiff([a, b, c]), b);
    assert.equal(getMaxProgressDiff([c, a]), a);
    assert.equal(getMaxProgressDiff([b, b2]), b);
    assert.equal(getMaxProgressDiff([b2, b]), b2);
    assert.throws(() => getMaxProgressDiff([]), UsageError);
  });

  it('canApply and apply agree with the relation; applying makes progress and keeps dirtiness', () => {
    fc.assert(
      fc.property(snapArb, diffArb, (s, d) => {
        const rel = getRelation(s, d);
        assert.equal(canApply(s, d), rel === 'applicable');
        if (d.isCompDiff) assert.ok(rel === 'applicable' || rel === 'not-applicable');
        else assert.notEqual(rel, 'not-applicable');
        if (rel !== 'applicable') {
          assert.throws(() => apply(s, d), UsageError);
          return;
        }
        const r: MetaSnap = apply(s, d);
        assert.ok(r.gidB > s.gidB, 'progress');
        assert.ok(r.gidB <= r.gidE);
        assert.equal(r.gidB, d.snapE.gidB);
        if (d.snapB.gidB === d.snapB.gidE && d.snapE.gidB === d.snapE.gidE) assert.ok(r.gidE >= s.gidE, 'a clean diff cannot clean a block it does not hold');
        // Nothing a diff brings is applicable again afterwards.
        assert.notEqual(getRelation(r, d), 'applicable');
      }),
      RUNS,
    );
  });

  it('a diff contained in an applied diff is never applicable afterwards', () => {
    // s: any snapshot that c applies to; d: any diff that c contains.
    const caseArb = fc.record({ c: diffArb, at: fc.nat(), w: fc.nat(3), b: fc.nat(), e: fc.nat(), bw: fc.nat(1), ew: fc.nat(2), dc: fc.boolean() });
    fc.assert(
      fc.property(caseArb, ({ c, at, w, b, e, bw, ew, dc }) => {
        const span = c.snapE.gidB - c.snapB.gidB;
        const s = metaSnap(c.snapB.gidB + (c.isCompDiff ? 0 : at % span), c.snapB.gidB + span + w);
        const dB = c.snapB.gidB + (b % span);
        const dE = dB + 1 + (e % (c.snapE.gidB - dB));
        const d = metaDiff(metaSnap(dB, dB + bw), metaSnap(dE, dE + bw + ew), { isCompDiff: dc });
        assert.ok(canApply(s, c) && contains(c, d));
        assert.notEqual(getRelation(apply(s, c), d), 'applicable');
      }),
      RUNS,
    );
  });

  it('applying a diff to an image gives an image that matches the resulting snapshot', () => {
    const caseArb = timelineArb.chain((tl) =>
      fc.record({
        tl: fc.constant(tl),
        s: fc.tuple(fc.nat(tl.maxGid), fc.nat(tl.maxGid)).map(([a, b]) => metaSnap(Math.min(a, b), Math.max(a, b))),
        picks: fc.array(fc.nat(20), { minLength: tl.nBlocks, maxLength: tl.nBlocks }),
        kind: fc.constantFrom('log', 'compared', 'hash backup'),
        a: fc.nat(tl.maxGid - 1),
        len: fc.integer({ min: 1, max: tl.maxGid }),
        extra: fc.nat(3),
      }),
    );
    fc.assert(
      fc.property(caseArb, ({ tl, s, picks, kind, a, len, extra }) => {
        const b = Math.min(tl.maxGid, a + len);
        const image = tl.copyImage(s.gidB, s.gidE, picks);
        let d: MetaDiff;
        let data: ReadonlyMap<number, number>;
        if (kind === 'log') {
          [d, data] = [metaDiff(a, b), tl.logData(a, b)];
        } else {
          // Made by comparing with the image at a: valid only on that exact (clean) image.
          fc.pre(s.gidB === a && s.gidE === a);
          if (kind === 'compared') [d, data] = [metaDiff(a, b, { isCompDiff: true }), tl.compData(a, b)];
          else {
            const e = Math.min(tl.maxGid, a + 1 + extra);
            [d, data] = [metaDiff(a, metaSnap(a + 1, e)), differing(tl.imageAt(a), tl.copyImage(a + 1, e, picks))];
          }
        }
        fc.pre(canApply(s, d));
        assert.ok(tl.matches(applyData(image, data), apply(s, d)));
      }),
      RUNS,
    );
  });
});
