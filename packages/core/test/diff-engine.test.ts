import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExtentTable, resolveNewestWins, kwayMerge, splitAligned, alignmentOf, floorPow2, NewestWinsCollector, type MergeInput } from '@blockwal/core';

/** Reference: a block map where later writes overwrite earlier ones. */
function blockMap(writes: Array<[number, number]>): Map<number, [number, number]> {
  const m = new Map<number, [number, number]>(); // block -> [writer, offset in writer]
  writes.forEach(([a, b], w) => {
    for (let k = 0; k < b; k++) m.set(a + k, [w, k]);
  });
  return m;
}

const writesArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 40 })), { maxLength: 60 });

describe('diff engine', () => {
  it('newest-wins resolution equals a block map, sorted, without overlaps, pieces joined', () => {
    fc.assert(
      fc.property(writesArb, (writes) => {
        const t = new ExtentTable(4);
        for (const [a, b] of writes) t.push(a, b, 0);
        const out: Array<[number, number, number, number]> = [];
        resolveNewestWins(t, (tt, i, a, b) => out.push([i, a, b, tt.skip[i]! + (a - tt.address[i]!)]));
        const got = new Map<number, [number, number]>();
        let last = -1;
        for (let s = 0; s < out.length; s++) {
          const [i, a, b, skip] = out[s]!;
          assert.ok(a >= last, 'sorted, no overlap');
          assert.ok(b > 0);
          if (s > 0) {
            const [pi, pa, pb] = out[s - 1]!;
            assert.ok(!(pi === i && pa + pb === a), 'touching pieces of one extent are joined');
          }
          last = a + b;
          for (let k = 0; k < b; k++) got.set(a + k, [i, skip + k]);
        }
        assert.deepEqual([...got.entries()].sort((x, y) => x[0] - y[0]), [...blockMap(writes).entries()].sort((x, y) => x[0] - y[0]));
      }),
      { numRuns: 1000 },
    );
  });

  it('k-way merge of non-overlapping streams lets the newest input win', () => {
    const streamArb = writesArb.map((w) => {
      // make one stream non-overlapping and sorted by resolving it
      const t = new ExtentTable();
      for (const [a, b] of w) t.push(a, b, 0);
      const recs: Array<[number, number]> = [];
      resolveNewestWins(t, (_t, _i, a, b) => recs.push([a, b]));
      return recs;
    });
    fc.assert(
      fc.property(fc.array(streamArb, { minLength: 1, maxLength: 5 }), (streams) => {
        const inputs: MergeInput[] = streams.map((recs) => {
          let i = 0;
          return {
            get address() {
              return i < recs.length ? recs[i]![0] : Number.POSITIVE_INFINITY;
            },
            get blocks() {
              return i < recs.length ? recs[i]![1] : 0;
            },
            next() {
              i++;
            },
          };
        });
        const got = new Map<number, [number, number]>();
        let last = -1;
        kwayMerge(inputs, (inp, a, b, skip) => {
          assert.ok(a >= last && b > 0);
          last = a + b;
          for (let k = 0; k < b; k++) got.set(a + k, [inp, skip + k]);
        });
        const want = new Map<number, [number, number]>();
        streams.forEach((recs, s) => recs.forEach(([a, b]) => { for (let k = 0; k < b; k++) want.set(a + k, [s, a + k]); }));
        // compare: winner stream, and block address within that stream's record
        assert.equal(got.size, want.size);
        for (const [blk, [s]] of want) {
          const g = got.get(blk)!;
          assert.equal(g[0], s);
          const rec = streams[s]!.find(([a, b]) => a <= blk && blk < a + b)!;
          assert.equal(g[1], blk - rec[0]);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('splits ranges into aligned power-of-two pieces', () => {
    assert.equal(alignmentOf(0), 2 ** 31);
    assert.equal(alignmentOf(2 ** 40), 2 ** 31);
    assert.equal(alignmentOf(2 ** 40 + 8), 8);
    assert.equal(floorPow2(73), 64);
    const pieces: number[][] = [];
    splitAligned(175, 73, 2048, (a, b, o) => pieces.push([a, b, o]));
    assert.deepEqual(pieces, [[175, 1, 0], [176, 16, 1], [192, 32, 17], [224, 16, 49], [240, 8, 65]]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 5000 }), fc.constantFrom(0, 1, 8, 100, 2048), (a, b, max) => {
        let pos = a;
        splitAligned(a, b, max, (pa, pb, off) => {
          assert.equal(pa, pos);
          assert.equal(off, pa - a);
          assert.equal(pb & (pb - 1), 0);
          assert.equal(pa % pb, 0);
          if (max > 0) assert.ok(pb <= max);
          pos += pb;
        });
        assert.equal(pos, a + b);
      }),
      { numRuns: 1000 },
    );
  });

  it('bounded-memory newest-wins (runs spilled to disk, then merged) equals a block map', () => {
    fc.assert(
      fc.property(writesArb, fc.integer({ min: 1, max: 12 }), (writes, runExtents) => {
        const c = new NewestWinsCollector({ runExtents });
        try {
          writes.forEach(([a, b], w) => {
            c.table.push(a, b, 0, w * 1000);
            c.afterPush();
          });
          const s = c.finish();
          const got = new Map<number, [number, number]>();
          let last = -1;
          while (s.next()) {
            const a = s.table.address[s.row]!;
            const b = s.table.blocks[s.row]!;
            assert.ok(a >= last && b > 0);
            last = a + b;
            const w = s.table.src[s.row]! / 1000;
            for (let k = 0; k < b; k++) got.set(a + k, [w, s.table.skip[s.row]! + k]);
          }
          assert.deepEqual([...got.entries()].sort((x, y) => x[0] - y[0]), [...blockMap(writes).entries()].sort((x, y) => x[0] - y[0]));
        } finally {
          c.close();
        }
      }),
      { numRuns: 1000 },
    );
  });
});
