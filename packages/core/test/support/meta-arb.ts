/** fast-check arbitraries of valid meta objects, over the whole gid and timestamp ranges. */

import fc from 'fast-check';
import { MAX_TIMESTAMP, metaDiff, metaSnap, type MetaDiff, type MetaSnap } from '@blockwal/core';

const MAX = Number.MAX_SAFE_INTEGER;

/** Small gids (so that clean and equal values are frequent) or any gid. */
export const gidArb = fc.oneof(fc.nat(100), fc.integer({ min: 0, max: MAX }));
export const timestampArb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: MAX_TIMESTAMP }));
const widthArb = fc.oneof(fc.constant(0), fc.nat(5), gidArb);

export const snapArb: fc.Arbitrary<MetaSnap> = fc.tuple(gidArb, widthArb).map(([b, w]) => metaSnap(b, Math.min(MAX, b + w)));

export const diffArb: fc.Arbitrary<MetaDiff> = fc
  .record({
    snapB: snapArb.filter((s) => s.gidB < MAX),
    step: fc.oneof(fc.integer({ min: 1, max: 5 }), gidArb),
    width: widthArb,
    isMergeable: fc.boolean(),
    isCompDiff: fc.boolean(),
    timestamp: timestampArb,
    dataSize: fc.oneof(fc.nat(), fc.integer({ min: 0, max: MAX })),
  })
  .map(({ snapB, step, width, ...options }) => {
    const gidB = Math.min(MAX, snapB.gidB + Math.max(1, step));
    return metaDiff(snapB, metaSnap(gidB, Math.min(MAX, Math.max(gidB, snapB.gidE) + width)), options);
  });
