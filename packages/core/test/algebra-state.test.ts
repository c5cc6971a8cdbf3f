import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyAll,
  applyToState,
  beginApplying,
  canApplyToState,
  chainToApply,
  chainToGid,
  endApplying,
  isClean,
  metaDiff,
  metaSnap,
  metaState,
  restorableSnapshots,
  UsageError,
  type MetaDiff,
  type MetaState,
} from '@blockwal/core';
import { applyData, applyDiffs, dataOf, mergeData, type Image, type World, worldArb } from './support/block-model.js';

const RUNS = { numRuns: 1000 };

describe('algebra: the base state and the applying state (walb-formats §7.2)', () => {
  it('validates states', () => {
    assert.deepEqual(metaState(5, 7), { isApplying: false, snapB: metaSnap(5), snapE: metaSnap(5), timestamp: 7 });
    assert.deepEqual(metaState(2, 0, metaSnap(5, 6)), { isApplying: true, snapB: metaSnap(2), snapE: metaSnap(5, 6), timestamp: 0 });
    assert.throws(() => metaState(5, 0, 5), UsageError);
    assert.throws(() => metaState(5, -1), UsageError);
  });

  it('needs, while applying, diffs that reach the end of the interrupted apply', () => {
    const steady = metaState(3);
    const applying = metaState(3, 0, 7);
    assert.equal(canApplyToState(steady, [metaDiff(3, 5)]), true);
    assert.equal(canApplyToState(applying, [metaDiff(3, 5)]), false);
    assert.equal(canApplyToState(applying, [metaDiff(3, 5), metaDiff(5, 7)]), true);
    assert.equal(canApplyToState(applying, [metaDiff(3, 8)]), true);
    assert.equal(canApplyToState(applying, [metaDiff(4, 8)]), false);
    assert.equal(canApplyToState(applying, []), false);
    assert.equal(canApplyToState(steady, []), true);
  });

  it('begins and ends an apply, taking the last diff timestamp', () => {
    const v = [metaDiff(3, 5, { timestamp: 50 }), metaDiff(5, 6, { timestamp: 60 })];
    const begun = beginApplying(metaState(3, 30), v);
    assert.deepEqual(begun, { isApplying: true, snapB: metaSnap(3), snapE: metaSnap(6), timestamp: 60 });
    assert.deepEqual(endApplying(begun, v), metaState(6, 60));
    assert.deepEqual(applyToState(metaState(3, 30), v), metaState(6, 60));
    assert.deepEqual(applyToState(metaState(3, 30), []), metaState(3, 30));
    assert.deepEqual(beginApplying(begun, [...v, metaDiff(6, 9, { timestamp: 90 })]).snapE, metaSnap(9));
    assert.throws(() => endApplying(metaState(3), v), UsageError);
    assert.throws(() => endApplying(begun, v.slice(0, 1)), UsageError);
    assert.throws(() => beginApplying(metaState(3), []), UsageError);
    assert.throws(() => applyToState(begun, []), UsageError);
    assert.throws(() => applyToState(metaState(5), v), /too-old|cannot apply/);
  });

  it('a crashed apply, re-applied after restart (maybe crashing again), gives the image of the state it claims', () => {
    const crashArb = fc.record({
      w: worldArb,
      targets: fc.array(fc.nat(16), { minLength: 3, maxLength: 3 }),
      written: fc.array(fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), { minLength: 2, maxLength: 2 }),
      twice: fc.boolean(),
    });
    fc.assert(
      fc.property(crashArb, ({ w, targets, written, twice }) => {
        const diffs = w.entries.map((e) => e.meta);
        const v1 = chainToApply(w.base, diffs, targets[0]!);
        fc.pre(v1.length > 0);
        const full = applyDiffs(w, w.baseImage, v1);
        assert.ok(w.tl.matches(full, endApplying(beginApplying(w.base, v1), v1).snapB), 'uninterrupted apply');

        // Crash after writing some blocks of the merged diffs, then restart (maybe crash again).
        let st = beginApplying(w.base, v1);
        let image = crashedWrite(w, w.baseImage, v1, written[0]!);
        let v = v1;
        if (twice) {
          v = resumeChain(st, diffs, targets[1]!, v);
          const again = beginApplying(st, v);
          assert.deepEqual(again.snapB, st.snapB);
          [st, image] = [again, crashedWrite(w, image, v, written[1]!)];
        }
        const v2 = resumeChain(st, diffs, targets[2]!, v);
        const end = endApplying(beginApplying(st, v2), v2);
        const restored = applyDiffs(w, image, v2);
        assert.ok(w.tl.matches(restored, end.snapB), 'the image is what the state says');
        if (v2.length === v1.length) assert.deepEqual(restored, full, 'same as without the crash');
        if (isClean(end.snapB)) assert.deepEqual(restored, w.tl.imageAt(end.snapB.gidB));
      }),
      RUNS,
    );
  });
});

/** Writes the blocks of the merged data of `v` that `written` selects, as a crash mid-apply leaves them. */
function crashedWrite(w: World, image: Image, v: readonly MetaDiff[], written: readonly boolean[]): Image {
  const merged = v.map((d) => dataOf(w, d)).reduce(mergeData);
  return applyData(image, new Map([...merged].filter((_, i) => written[i % written.length])));
}

/** What a restarted archive re-applies: checks that it holds the interrupted diffs and nothing is restorable before them. */
function resumeChain(st: MetaState, diffs: readonly MetaDiff[], target: number, interrupted: readonly MetaDiff[]): MetaDiff[] {
  const first = restorableSnapshots(st, diffs)[0];
  if (first) assert.ok(first.gid >= st.snapE.gidB);
  for (let gid = st.snapB.gidB; gid < st.snapE.gidB; gid++) assert.throws(() => chainToGid(st, diffs, gid), UsageError);
  const v = chainToApply(st, diffs, target);
  assert.ok(interrupted.every((d, i) => v[i] === d), 'the interrupted diffs are re-applied first');
  assert.ok(canApplyToState(st, v) && !canApplyToState(st, v.slice(0, interrupted.length - 1)));
  assert.ok(applyAll(st.snapB, v).gidB >= st.snapE.gidB);
  return v;
}
