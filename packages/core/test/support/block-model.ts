/**
 * A tiny model of block images for the algebra property tests: a volume of a few blocks, each
 * holding a small integer, a history of writes with snapshots taken at gids 0, 1, …, and the
 * diffs an archive can hold, each with its block data:
 *
 * - log diff `|a|-->|b|`: every block written between the snapshots, with its value at b;
 * - compared diff `|a|-->|b|` (C): the blocks that differ between the images at a and b;
 * - hash backup diff `|x|-->|x+1,e|`: a live copy taken between gids x+1 and e, compared with the
 *   image at x (only the differing blocks);
 * - dirty full copy `|b,e|`: each block read at some moment between gids b and e;
 * - merged diff: the meta merge of the algebra, the data merge "newer block wins".
 *
 * Applying a diff to an image overwrites its blocks. A clean snapshot |g| must match the image at
 * gid g exactly; a dirty one |b,e| must hold, in every block, a value that block had at some
 * moment between gids b and e.
 */

import fc from 'fast-check';
import {
  canMerge,
  merge,
  metaDiff,
  metaSnap,
  metaState,
  type MetaDiff,
  type MetaSnap,
  type MetaState,
} from '@blockwal/core';

export type Image = readonly number[];
/** Block address → value: the data of a diff. */
export type BlockData = ReadonlyMap<number, number>;

export function applyData(image: Image, data: BlockData): number[] {
  const out = [...image];
  for (const [block, value] of data) out[block] = value;
  return out;
}

/** The data merge: blocks of both, the newer diff's value winning. */
export function mergeData(older: BlockData, newer: BlockData): BlockData {
  return new Map([...older, ...newer]);
}

/** The unix time of the snapshot of gid g in these tests. */
export const tsOf = (gid: number): number => 1_700_000_000 + 10 * gid;

/** A volume's history: the image after each write, and when each gid's snapshot was taken. */
export class Timeline {
  /** images[t]: the volume after t writes. */
  readonly images: readonly Image[];
  /** snapAt[g]: the number of writes done when snapshot g was taken. */
  readonly snapAt: readonly number[];
  readonly writes: readonly (readonly [number, number])[];

  constructor(initial: Image, steps: readonly (readonly (readonly [number, number])[])[]) {
    this.writes = steps.flat();
    const images: Image[] = [initial];
    for (const [block, value] of this.writes) images.push(applyData(images[images.length - 1]!, new Map([[block, value]])));
    this.images = images;
    const snapAt = [0];
    for (const s of steps) snapAt.push(snapAt[snapAt.length - 1]! + s.length);
    this.snapAt = snapAt;
  }

  get maxGid(): number {
    return this.snapAt.length - 1;
  }

  get nBlocks(): number {
    return this.images[0]!.length;
  }

  imageAt(gid: number): Image {
    return this.images[this.snapAt[gid]!]!;
  }

  logData(a: number, b: number): BlockData {
    const data = new Map<number, number>();
    for (const [block] of this.writes.slice(this.snapAt[a], this.snapAt[b])) data.set(block, this.imageAt(b)[block]!);
    return data;
  }

  compData(a: number, b: number): BlockData {
    return differing(this.imageAt(a), this.imageAt(b));
  }

  /** A copy of the live volume between gids b and e: block x read `picks[x]` moments after gid b (modulo the span). */
  copyImage(b: number, e: number, picks: readonly number[]): Image {
    const span = this.snapAt[e]! - this.snapAt[b]! + 1;
    return this.images[0]!.map((_, x) => this.images[this.snapAt[b]! + (picks[x]! % span)]![x]!);
  }

  /** True if the image is what the snapshot promises (see the file comment). */
  matches(image: Image, snap: MetaSnap): boolean {
    const from = this.snapAt[snap.gidB]!;
    const to = this.snapAt[snap.gidE]!;
    return image.every((v, x) => this.images.slice(from, to + 1).some((img) => img[x] === v));
  }
}

export function differing(from: Image, to: Image): BlockData {
  const data = new Map<number, number>();
  to.forEach((v, x) => {
    if (from[x] !== v) data.set(x, v);
  });
  return data;
}

export const timelineArb: fc.Arbitrary<Timeline> = fc
  .record({ nBlocks: fc.integer({ min: 4, max: 12 }), nSteps: fc.integer({ min: 2, max: 14 }) })
  .chain(({ nBlocks, nSteps }) =>
    fc.record({
      initial: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: nBlocks, maxLength: nBlocks }),
      steps: fc.array(fc.array(fc.tuple(fc.nat(nBlocks - 1), fc.integer({ min: 0, max: 3 })), { maxLength: 4 }), {
        minLength: nSteps,
        maxLength: nSteps,
      }),
    }),
  )
  .map(({ initial, steps }) => new Timeline(initial, steps));

/** A diff with its data. */
export interface Entry {
  readonly meta: MetaDiff;
  readonly data: BlockData;
}

/** An archive: a base state and its image, and a set of diffs. */
export interface World {
  readonly tl: Timeline;
  readonly base: MetaState;
  readonly baseImage: Image;
  readonly entries: readonly Entry[];
}

export function dataOf(w: World, d: MetaDiff): BlockData {
  const e = w.entries.find((x) => x.meta === d);
  if (!e) throw new Error('diff not in the world');
  return e.data;
}

/** Applies the data of the diffs (as an archive writes their merge) to an image. */
export function applyDiffs(w: World, image: Image, diffs: readonly MetaDiff[]): Image {
  return diffs.reduce<Image>((img, d) => applyData(img, dataOf(w, d)), image);
}

/**
 * An archive built from a timeline: a clean or dirty base; log diffs (duplicated, with flags
 * flipped, merged, overlapping, some too old); compared diffs; a hash backup diff; shuffled.
 *
 * Compared and hash backup diffs hold only the blocks that differ from the image they were made
 * against, so they are valid only on that exact image. walb-tools makes them against the
 * archive's latest snapshot; here they start only at gids where every state the archive can be
 * in is clean: outside every dirty range [b, e) of the base and of the hash backup diff.
 */
export const worldArb: fc.Arbitrary<World> = timelineArb.chain((tl) => {
  const n = tl.maxGid;
  const picks = fc.array(fc.nat(20), { minLength: tl.nBlocks, maxLength: tl.nBlocks });
  const from = fc.nat(n - 1);
  return fc
    .record({
      base: fc.oneof(
        fc.record({ gid: fc.nat(n >> 1) }),
        fc.record({ b: fc.nat(n >> 1), len: fc.integer({ min: 1, max: 3 }), picks }),
      ),
      spine: fc.array(fc.record({ cut: fc.constantFrom(true, true, false), m: fc.boolean() }), { minLength: n, maxLength: n }),
      gap: fc.record({ piece: fc.nat(n >> 1), hash: fc.option(fc.record({ len: fc.nat(3), picks, m: fc.boolean() })) }),
      logs: fc.array(fc.record({ a: from, len: fc.integer({ min: 1, max: 3 }), m: fc.boolean() }), { maxLength: 8 }),
      comps: fc.array(fc.record({ a: from, len: fc.integer({ min: 1, max: 4 }) }), { maxLength: 3 }),
      merges: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 4 }),
      dups: fc.array(fc.record({ i: fc.nat(), flip: fc.boolean() }), { maxLength: 4 }),
      seed: fc.nat(),
    })
    .map((r): World => {
      const entries: Entry[] = [];
      const log = (a: number, b: number, m: boolean) =>
        entries.push({ meta: metaDiff(a, b, { isMergeable: m, timestamp: tsOf(b) }), data: tl.logData(a, b) });

      const dirty: (readonly [number, number])[] = [];
      const cleanAt = (gid: number) => dirty.every(([b, e]) => gid < b || gid >= e);
      let base: MetaState;
      let baseImage: Image;
      if ('gid' in r.base) {
        base = metaState(r.base.gid, tsOf(r.base.gid));
        baseImage = tl.imageAt(r.base.gid);
      } else {
        const { b } = r.base;
        const e = Math.min(n, b + r.base.len);
        base = metaState(metaSnap(b, e), tsOf(e));
        baseImage = tl.copyImage(b, e, r.base.picks);
        dirty.push([b, e]);
      }

      // The storage's log diffs from gid 0 to the last one, cut where `spine` says. One piece may
      // be lost (as after a log overflow), and then maybe bridged by a hash backup |x|-->|x+1,e|
      // followed by the log diff from x+1 (the storage restarts at gid x+1).
      let lost: readonly [number, number] = [n, n];
      let pieceStart = 0;
      let piece = 0;
      r.spine.forEach(({ cut, m }, i) => {
        if (!cut && i < n - 1) return;
        const [x, to] = [pieceStart, i + 1];
        pieceStart = to;
        if (piece++ !== r.gap.piece) return log(x, to, m);
        lost = [x, to];
        const h = r.gap.hash;
        if (!h || !cleanAt(x)) return;
        const e = Math.min(to, x + 1 + h.len);
        dirty.push([x + 1, e]);
        entries.push({
          meta: metaDiff(x, metaSnap(x + 1, e), { isMergeable: h.m, timestamp: tsOf(e) }),
          data: differing(tl.imageAt(x), tl.copyImage(x + 1, e, h.picks)),
        });
        if (x + 1 < to) log(x + 1, to, m);
      });
      // More log diffs, as other proxies and merges deliver them; none crosses the lost piece.
      for (const { a, len, m } of r.logs) {
        const b = Math.min(n, a + len);
        if (b <= lost[0] || a >= lost[1]) log(a, b, m);
      }
      // Compared diffs (hash replication) against the image at a, where that image is clean.
      for (const { a, len } of r.comps.filter(({ a }) => cleanAt(a))) {
        const b = Math.min(n, a + len);
        entries.push({ meta: metaDiff(a, b, { isCompDiff: true, timestamp: tsOf(b) }), data: tl.compData(a, b) });
      }
      for (const [i, j] of entries.length > 0 ? r.merges : []) {
        const d0 = entries[i % entries.length]!;
        const d1 = entries[j % entries.length]!;
        if (canMerge(d0.meta, d1.meta)) entries.push({ meta: merge(d0.meta, d1.meta), data: mergeData(d0.data, d1.data) });
      }
      for (const { i, flip } of entries.length > 0 ? r.dups : []) {
        const e = entries[i % entries.length]!;
        entries.push({ meta: { ...e.meta, isMergeable: e.meta.isMergeable !== flip }, data: e.data });
      }
      return { tl, base, baseImage, entries: shuffle(entries, r.seed) };
    });
});

/** Fisher–Yates with a small LCG, so that a fast-check seed reproduces the order. */
function shuffle<T>(items: T[], seed: number): T[] {
  let x = seed >>> 0;
  for (let i = items.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1_664_525) + 1_013_904_223) >>> 0;
    const j = x % (i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
