import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applicableChain,
  apply,
  canApply,
  canMerge,
  canMergeAll,
  merge,
  mergeableRuns,
  mergeAll,
  metaDiff,
  metaSnap,
  metaState,
  restorableSnapshots,
  UsageError,
  type MetaDiff,
  type MetaSnap,
} from '@blockwal/core';
import { applyData, applyDiffs, dataOf, mergeData, worldArb, type Image } from './support/block-model.js';

const RUNS = { numRuns: 1000 };
const M = { isMergeable: true };

describe('algebra: merge (walb-formats §7.3)', () => {
  it('merges contiguous and overlapping diffs when the later one is mergeable and reaches further', () => {
    const d0 = metaDiff(10, 20, { timestamp: 100 });
    const d1 = metaDiff(20, 30, { isMergeable: true, timestamp: 200, dataSize: 7 });
    assert.ok(canMerge(d0, d1));
    assert.deepEqual(merge(d0, d1), { snapB: metaSnap(10), snapE: metaSnap(30), isMergeable: false, isCompDiff: false, timestamp: 200, dataSize: 0 });
    assert.ok(canMerge(d0, metaDiff(15, 25, M)));
    assert.deepEqual(merge(metaDiff(10, 20, M), metaDiff(15, 25, M)).snapE, metaSnap(25));
    assert.equal(merge(metaDiff(10, 20, M), metaDiff(15, 25, M)).isMergeable, true);
  });

  it('refuses: an explicit snapshot between, a compared diff, a gap, no progress, starting earlier', () => {
    assert.equal(canMerge(metaDiff(10, 20), metaDiff(20, 30)), false);
    assert.equal(canMerge(metaDiff(10, 20, { isCompDiff: true }), metaDiff(20, 30, M)), false);
    assert.equal(canMerge(metaDiff(10, 20), metaDiff(20, 30, { isMergeable: true, isCompDiff: true })), false);
    assert.equal(canMerge(metaDiff(10, 20), metaDiff(21, 30, M)), false);
    assert.equal(canMerge(metaDiff(10, 20), metaDiff(12, 20, M)), false);
    assert.equal(canMerge(metaDiff(10, 20), metaDiff(9, 30, M)), false);
    assert.throws(() => merge(metaDiff(10, 20), metaDiff(20, 30)), UsageError);
  });

  it('keeps the dirty end of the first diff when the second is clean', () => {
    const hashBackup = metaDiff(0, metaSnap(1, 5));
    assert.deepEqual(merge(hashBackup, metaDiff(1, 3, M)).snapE, metaSnap(3, 5));
    assert.deepEqual(merge(hashBackup, metaDiff(1, 7, M)).snapE, metaSnap(7));
    assert.deepEqual(merge(metaDiff(0, 2), metaDiff(2, metaSnap(3, 9), M)).snapE, metaSnap(3, 9));
  });

  it('merges a list left to right', () => {
    const v = [metaDiff(0, 2), metaDiff(2, 4, M), metaDiff(3, 6, M)];
    assert.ok(canMergeAll(v));
    assert.deepEqual(mergeAll(v).snapE, metaSnap(6));
    assert.equal(canMergeAll([]), false);
    assert.equal(canMergeAll([metaDiff(0, 2), metaDiff(2, 4)]), false);
    assert.throws(() => mergeAll([]), UsageError);
    assert.equal(mergeAll([v[0]!]), v[0]);
  });

  it('cuts a chain into maximal mergeable runs', () => {
    const chain = [
      metaDiff(0, 1),
      metaDiff(1, 2, M),
      metaDiff(2, 3, M),
      metaDiff(3, 4), // explicit snapshot 3
      metaDiff(4, 5, { isMergeable: true, isCompDiff: true }),
      metaDiff(5, 6, M),
    ];
    const runs = mergeableRuns(chain);
    assert.deepEqual(runs, [chain.slice(0, 3), [chain[3]], [chain[4]], [chain[5]]]);
    assert.deepEqual(mergeableRuns([]), []);
  });

  it('applying merge(d0, d1) equals applying d0 then d1, for the snapshot and for the image', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        // Every state the archive can be in: the base and each state along its chain.
        const states: { snap: MetaSnap; image: Image }[] = [{ snap: w.base.snapB, image: w.baseImage }];
        for (const step of applicableChain(w.base, w.entries.map((e) => e.meta))) {
          states.push({ snap: step.snap, image: applyData(states[states.length - 1]!.image, dataOf(w, step.diff)) });
        }
        for (const { snap, image } of states) {
          for (const e0 of w.entries.filter((e) => canApply(snap, e.meta))) {
            for (const e1 of w.entries.filter((e) => canMerge(e0.meta, e.meta))) {
              const twoSteps = apply(apply(snap, e0.meta), e1.meta);
              assert.deepEqual(apply(snap, merge(e0.meta, e1.meta)), twoSteps);
              const merged = applyData(image, mergeData(e0.data, e1.data));
              assert.deepEqual(merged, applyData(applyData(image, e0.data), e1.data));
              assert.ok(w.tl.matches(merged, twoSteps), 'the image is what the snapshot says');
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('merging the runs of a chain keeps its end, its image and every explicit snapshot', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const chain = applicableChain(w.base, w.entries.map((e) => e.meta)).map((s) => s.diff);
        const runs = mergeableRuns(chain);
        assert.deepEqual(runs.flat(), chain);
        runs.forEach((run, i) => {
          assert.ok(canMergeAll(run));
          const next = runs[i + 1];
          if (next) assert.equal(canMerge(mergeAll(run), next[0]!), false, 'runs are maximal');
        });
        const merged: MetaDiff[] = runs.map(mergeAll);
        const mergedData = new Map(runs.map((run, i) => [merged[i]!, run.map((d) => dataOf(w, d)).reduce(mergeData)]));
        const viaRuns = merged.reduce<Image>((img, d) => applyData(img, mergedData.get(d)!), w.baseImage);
        assert.deepEqual(viaRuns, applyDiffs(w, w.baseImage, chain));

        const before = restorableSnapshots(w.base, chain);
        const after = restorableSnapshots(w.base, merged);
        for (const r of before.filter((r) => r.isExplicit)) assert.deepEqual(after.find((a) => a.gid === r.gid), r);
        for (const r of after) assert.deepEqual(before.find((b) => b.gid === r.gid), r, 'no new snapshot');
      }),
      RUNS,
    );
  });

  it('a merged diff with a dirty end can claim a cleaner result than the two steps on a dirty snapshot', () => {
    // Documented edge of the walb-tools rules: apply(|5,100|, hash backup |5|-->|6,8|) is |6,8| and
    // then |9|; the merged clean diff |5|-->|9| gives |9,100|. Only reachable by applying a diff made
    // by comparison to a snapshot it was not made against (see block-model.ts).
    const s = metaSnap(5, 100);
    const d0 = metaDiff(5, metaSnap(6, 8));
    const d1 = metaDiff(6, 9, M);
    assert.deepEqual(apply(apply(s, d0), d1), metaSnap(9));
    assert.deepEqual(apply(s, merge(d0, d1)), metaSnap(9, 100));
    assert.deepEqual(apply(metaState(5).snapB, merge(d0, d1)), apply(apply(metaSnap(5), d0), d1));
  });
});
