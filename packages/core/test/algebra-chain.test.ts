import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applicableChain,
  apply,
  applyAll,
  BlockwalError,
  canApply,
  chainToApply,
  chainToGid,
  garbageDiffs,
  getMaxProgressDiff,
  isClean,
  metaDiff,
  metaSnap,
  metaState,
  restorableSnapshots,
  UsageError,
  type ChainStep,
  type MetaDiff,
  type MetaState,
} from '@blockwal/core';
import { applyData, applyDiffs, dataOf, timelineArb, tsOf, worldArb, type Image } from './support/block-model.js';

const RUNS = { numRuns: 1000 };
const M = { isMergeable: true };

/** The chain by its definition: filter the applicable diffs, take the max-progress one, repeat. */
function modelChain(base: MetaState, diffs: readonly MetaDiff[]): ChainStep[] {
  const steps: ChainStep[] = [];
  let snap = base.snapB;
  for (;;) {
    const candidates = diffs.filter((d) => canApply(snap, d));
    if (candidates.length === 0) return steps;
    const diff = getMaxProgressDiff(candidates);
    snap = apply(snap, diff);
    steps.push({ diff, snap });
  }
}

function assertSameChain(actual: readonly ChainStep[], expected: readonly ChainStep[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((step, i) => {
    assert.ok(step.diff === expected[i]!.diff, `step ${i} picks the same diff object`);
    assert.deepEqual(step.snap, expected[i]!.snap);
  });
}

const gids = (v: readonly MetaDiff[]) => v.map((d) => `${d.snapB.gidB}-${d.snapE.gidB}`);

describe('algebra: chains of diffs (walb-tools-architecture §2.2, §2.6)', () => {
  it('lists restorable snapshots, explicit when last or when the next diff is not mergeable (§2.6)', () => {
    const diffs = [
      metaDiff(0, 1, { timestamp: 110 }),
      metaDiff(1, 2, { isMergeable: true, timestamp: 120 }),
      metaDiff(2, 3, { timestamp: 130 }),
      metaDiff(3, 4, { isMergeable: true, timestamp: 140 }),
    ];
    assert.deepEqual(restorableSnapshots(metaState(0, 100), diffs), [
      { gid: 0, timestamp: 100, isExplicit: true },
      { gid: 1, timestamp: 110, isExplicit: false },
      { gid: 2, timestamp: 120, isExplicit: true },
      { gid: 3, timestamp: 130, isExplicit: false },
      { gid: 4, timestamp: 140, isExplicit: true },
    ]);
  });

  it('follows the max-progress diff through duplicates and overlaps; the rest is garbage', () => {
    const diffs = [metaDiff(0, 2), metaDiff(0, 5), metaDiff(2, 3), metaDiff(5, 6), metaDiff(3, 7), metaDiff(0, 5, M)];
    const base = metaState(0);
    assert.deepEqual(gids(applicableChain(base, diffs).map((s) => s.diff)), ['0-5', '3-7']);
    assert.ok(applicableChain(base, diffs)[0]!.diff === diffs[1], 'the first of two equal diffs');
    assert.deepEqual(restorableSnapshots(base, diffs).map((r) => r.gid), [0, 5, 7]);
    assert.deepEqual(gids(chainToGid(base, diffs, 7)), ['0-5', '3-7']);
    assert.deepEqual(chainToGid(base, diffs, 0), []);
    assert.throws(() => chainToGid(base, diffs, 2), UsageError);
    assert.throws(() => chainToGid(base, diffs, 6), (e: unknown) => e instanceof UsageError && e.where.gid === 6);
    assert.deepEqual(gids(garbageDiffs(base, diffs)), ['0-2', '2-3', '5-6', '0-5']);
  });

  it('skips too-old leftovers and takes a compared diff only at its exact start', () => {
    assert.deepEqual(gids(chainToGid(metaState(10), [metaDiff(3, 5), metaDiff(5, 10), metaDiff(10, 12)], 12)), ['10-12']);
    const comp = metaDiff(4, 9, { isCompDiff: true });
    assert.deepEqual(gids(applicableChain(metaState(4), [metaDiff(4, 6), comp]).map((s) => s.diff)), ['4-9']);
    assert.deepEqual(gids(applicableChain(metaState(5), [metaDiff(4, 6), comp]).map((s) => s.diff)), ['4-6']);
  });

  it('lists a dirty base only once log diffs have made it clean', () => {
    const base = metaState(metaSnap(0, 6));
    const diffs = [metaDiff(0, 3, { timestamp: 3 }), metaDiff(3, 8, { timestamp: 8 })];
    assert.deepEqual(applicableChain(base, diffs).map((s) => s.snap), [metaSnap(3, 6), metaSnap(8)]);
    assert.deepEqual(restorableSnapshots(base, diffs), [{ gid: 8, timestamp: 8, isExplicit: true }]);
    assert.throws(() => chainToGid(base, diffs, 3), UsageError);
    assert.throws(() => chainToGid(base, diffs, 0), UsageError);
  });

  it('while applying, re-applies the interrupted diffs together before anything is restorable', () => {
    const base = metaState(2, 0, 5);
    const diffs = [metaDiff(2, 3), metaDiff(3, 5, { timestamp: 50 }), metaDiff(5, 6, M), metaDiff(6, 7)];
    assert.deepEqual(restorableSnapshots(base, diffs), [
      { gid: 5, timestamp: 50, isExplicit: true },
      { gid: 6, timestamp: 0, isExplicit: true },
      { gid: 7, timestamp: 0, isExplicit: true },
    ]);
    assert.throws(() => chainToGid(base, diffs, 3), UsageError);
    assert.throws(() => chainToGid(base, diffs, 2), UsageError);
    assert.deepEqual(gids(chainToGid(base, diffs, 5)), ['2-3', '3-5']);
    assert.deepEqual(gids(chainToApply(base, diffs, 3)), ['2-3', '3-5']);
    assert.deepEqual(gids(chainToApply(base, diffs, 7, { maxDiffs: 1 })), ['2-3', '3-5']);
    assert.deepEqual(gids(chainToApply(base, diffs, 7, { maxDiffs: 3 })), ['2-3', '3-5', '5-6']);
    assert.deepEqual(gids(chainToApply(metaState(2), diffs, 7, { maxDiffs: 1 })), ['2-3']);
    assert.deepEqual(gids(chainToApply(metaState(2), diffs, 6)), ['2-3', '3-5', '5-6']);
    assert.deepEqual(chainToApply(metaState(2), diffs, 2), []);
    assert.throws(() => chainToApply(metaState(2), diffs, 7, { maxDiffs: 0 }), UsageError);
  });

  it('finishes an interrupted apply with a diff that passes its end, and refuses when the diffs stop short', () => {
    const base = metaState(2, 0, 5);
    assert.deepEqual(gids(chainToApply(base, [metaDiff(2, 3), metaDiff(1, 7)], 3)), ['1-7']);
    assert.deepEqual(restorableSnapshots(base, [metaDiff(2, 3), metaDiff(1, 7)]).map((r) => r.gid), [7]);
    const short = [metaDiff(2, 3)];
    assert.deepEqual(restorableSnapshots(base, short), []);
    assert.throws(() => chainToApply(base, short, 9), (e: unknown) => e instanceof BlockwalError && e.code === 'NOT_FOUND');
    assert.throws(() => chainToGid(base, short, 3), (e: unknown) => e instanceof BlockwalError && e.code === 'NOT_FOUND');
  });

  it('picks the same chain as its definition (filter applicable, take the max-progress diff)', () => {
    // Small gid ranges give many ties, duplicates and overlaps.
    const diff = fc
      .record({ b: fc.nat(6), bw: fc.nat(1), step: fc.integer({ min: 1, max: 3 }), ew: fc.nat(1), m: fc.boolean(), c: fc.boolean() })
      .map(({ b, bw, step, ew, m, c }) => metaDiff(metaSnap(b, b + bw), metaSnap(b + step, b + bw + step + ew), { isMergeable: m, isCompDiff: c }));
    const base = fc.oneof(
      fc.tuple(fc.nat(4), fc.nat(2)).map(([b, w]) => metaState(metaSnap(b, b + w))),
      fc.tuple(fc.nat(4), fc.integer({ min: 1, max: 3 })).map(([b, step]) => metaState(b, 0, b + step)),
    );
    fc.assert(
      fc.property(base, fc.array(diff, { maxLength: 20 }), (st, diffs) => assertSameChain(applicableChain(st, diffs), modelChain(st, diffs))),
      RUNS,
    );
    fc.assert(
      fc.property(worldArb, (w) => {
        const diffs = w.entries.map((e) => e.meta);
        assertSameChain(applicableChain(w.base, diffs), modelChain(w.base, diffs));
      }),
      RUNS,
    );
  });

  it('rebuilds exactly the image of every restorable gid, and refuses every other gid', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const diffs = w.entries.map((e) => e.meta);
        const chain = applicableChain(w.base, diffs);
        // Every state along the chain holds what its snapshot says.
        let image: Image = w.baseImage;
        for (const step of chain) {
          image = applyData(image, dataOf(w, step.diff));
          assert.ok(w.tl.matches(image, step.snap), 'chain state matches its snapshot');
        }
        const restorable = restorableSnapshots(w.base, diffs);
        for (const r of restorable) {
          const v = chainToGid(w.base, diffs, r.gid);
          assert.deepEqual(applyAll(w.base.snapB, v), metaSnap(r.gid));
          assert.deepEqual(applyDiffs(w, w.baseImage, v), w.tl.imageAt(r.gid));
          assert.equal(r.timestamp, tsOf(r.gid));
        }
        const listed = new Set(restorable.map((r) => r.gid));
        for (let gid = 0; gid <= w.tl.maxGid + 1; gid++) {
          if (!listed.has(gid)) assert.throws(() => chainToGid(w.base, diffs, gid), UsageError);
        }
        // The definition of explicit, and every clean chain state is listed.
        const cleanStates = chain.filter((s) => isClean(s.snap)).map((s) => s.snap.gidB);
        const expected = isClean(w.base.snapB) ? [w.base.snapB.gidB, ...cleanStates] : cleanStates;
        assert.deepEqual(restorable.map((r) => r.gid), expected);
        for (const r of restorable.slice(isClean(w.base.snapB) ? 1 : 0)) {
          const i = chain.findIndex((s) => s.snap.gidB === r.gid);
          assert.equal(r.isExplicit, i === chain.length - 1 || !chain[i + 1]!.diff.isMergeable);
        }
      }),
      RUNS,
    );
  });

  it('applying up to a gid lands on the last chain state at or before it, with its image', () => {
    fc.assert(
      fc.property(worldArb, fc.nat(16), fc.option(fc.integer({ min: 1, max: 4 })), (w, gid, maxDiffs) => {
        const diffs = w.entries.map((e) => e.meta);
        const v = chainToApply(w.base, diffs, gid, maxDiffs === null ? {} : { maxDiffs });
        const chain = applicableChain(w.base, diffs);
        assert.ok(v.every((d, i) => d === chain[i]!.diff), 'a prefix of the chain');
        const snap = applyAll(w.base.snapB, v);
        assert.ok(snap.gidB <= Math.max(gid, w.base.snapB.gidB));
        if (maxDiffs === null) assert.ok(v.length === chain.length || chain[v.length]!.snap.gidB > gid, 'as far as allowed');
        else assert.ok(v.length <= maxDiffs);
        assert.ok(w.tl.matches(applyDiffs(w, w.baseImage, v), snap));
      }),
      RUNS,
    );
  });

  it('garbage is exactly what is not on the chain', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const diffs = w.entries.map((e) => e.meta);
        const live = new Set(applicableChain(w.base, diffs).map((s) => s.diff));
        const garbage = garbageDiffs(w.base, diffs);
        assert.equal(garbage.length + diffs.filter((d) => live.has(d)).length, diffs.length);
        assert.ok(garbage.every((d) => !live.has(d)));
        assertSameChain(applicableChain(w.base, diffs.filter((d) => !garbage.includes(d))), applicableChain(w.base, diffs));
      }),
      RUNS,
    );
  });

  it('a dirty full copy |0,E| plus log diffs reaching E or more is the true clean image', () => {
    const caseArb = timelineArb.chain((tl) =>
      fc.record({
        tl: fc.constant(tl),
        e: fc.integer({ min: 1, max: tl.maxGid }),
        picks: fc.array(fc.nat(30), { minLength: tl.nBlocks, maxLength: tl.nBlocks }),
        cuts: fc.array(fc.boolean(), { minLength: tl.maxGid, maxLength: tl.maxGid }),
        end: fc.nat(tl.maxGid),
      }),
    );
    fc.assert(
      fc.property(caseArb, ({ tl, e, picks, cuts, end }) => {
        const last = Math.max(e, end);
        let snap = metaSnap(0, e);
        let image: Image = tl.copyImage(0, e, picks);
        assert.ok(tl.matches(image, snap));
        for (let from = 0, g = 1; g <= last; g++) {
          if (g < last && !cuts[g]) continue;
          snap = apply(snap, metaDiff(from, g));
          image = applyData(image, tl.logData(from, g));
          assert.ok(tl.matches(image, snap));
          assert.equal(isClean(snap), g >= e);
          from = g;
        }
        assert.deepEqual(snap, metaSnap(last));
        assert.deepEqual(image, tl.imageAt(last));
      }),
      RUNS,
    );
  });
});
