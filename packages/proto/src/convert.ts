/** Proto messages ↔ the domain types of the snapshot/diff algebra (validated on the way in). */
import { metaDiff, metaSnap, RejectedError, type MetaDiff, type MetaSnap, BlockwalError } from '@blockwal/core';
import { blockwal } from '../generated/blockwal.js';

import v1 = blockwal.v1;

export function snapToWire(s: MetaSnap): v1.ISnapshot {
  return { gidB: s.gidB, gidE: s.gidE };
}

export function snapFromWire(s: v1.ISnapshot | null | undefined, what = 'snapshot'): MetaSnap {
  if (!s) throw new RejectedError('bad-argument', `${what} is missing`);
  return guard(() => metaSnap(Number(s.gidB ?? 0), Number(s.gidE ?? 0)), what);
}

export function diffToWire(d: MetaDiff): v1.IDiff {
  return { snapB: snapToWire(d.snapB), snapE: snapToWire(d.snapE), mergeable: d.isMergeable, compared: d.isCompDiff, timestamp: d.timestamp };
}

export function diffFromWire(d: v1.IDiff | null | undefined, dataSize = 0, what = 'diff'): MetaDiff {
  if (!d) throw new RejectedError('bad-argument', `${what} is missing`);
  const b = snapFromWire(d.snapB, `${what} start snapshot`);
  const e = snapFromWire(d.snapE, `${what} end snapshot`);
  return guard(() => metaDiff(b, e, { isMergeable: !!d.mergeable, isCompDiff: !!d.compared, timestamp: Number(d.timestamp ?? 0), dataSize }), what);
}

/** 16 bytes of a uuid, or a bad-argument rejection. */
export function uuidFromWire(u: Uint8Array | null | undefined, what = 'device uuid'): Uint8Array {
  if (!u || u.length !== 16) throw new RejectedError('bad-argument', `${what} must be 16 bytes, got ${u?.length ?? 0}`);
  return Uint8Array.from(u);
}

function guard<T>(f: () => T, what: string): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof BlockwalError && !(e instanceof RejectedError)) throw new RejectedError('bad-argument', `${what}: ${e.what}`);
    throw e;
  }
}
