/**
 * Overlap elimination where the newest write wins, over a run of extents in write order.
 *
 * A sweep over the block address space: extents sorted by start; a max-heap (by write order) of
 * the extents that have started; the top, once those that ended are popped, is the newest extent
 * covering the current address; it wins until it ends or a later extent starts. Pieces of the
 * same extent that touch are joined, so an extent overwritten in its middle leaves a head and a
 * tail. O(n log n), typed arrays only.
 */
import { ExtentTable } from './extent-table.js';

export type SegmentSink = (t: ExtentTable, i: number, address: number, blocks: number) => void;

/**
 * Emits the visible parts of the extents of `t` (index order = write order, later wins) in
 * address order, without overlaps, as (extent index, address, blocks).
 */
export function resolveNewestWins(t: ExtentTable, emit: SegmentSink): void {
  const n = t.length;
  if (n === 0) return;
  const addr = t.address;
  const blocks = t.blocks;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => addr[a]! - addr[b]! || a - b);

  const heap = new Uint32Array(n);
  let hn = 0;
  const push = (v: number) => {
    let c = hn++;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (heap[p]! >= v) break;
      heap[c] = heap[p]!;
      c = p;
    }
    heap[c] = v;
  };
  const pop = () => {
    const last = heap[--hn]!;
    let c = 0;
    for (;;) {
      let m = 2 * c + 1;
      if (m >= hn) break;
      if (m + 1 < hn && heap[m + 1]! > heap[m]!) m++;
      if (heap[m]! <= last) break;
      heap[c] = heap[m]!;
      c = m;
    }
    heap[c] = last;
  };

  let oi = 0;
  let x = addr[order[0]!]!;
  // A pending output piece, joined with the next one when it continues the same extent.
  let pw = -1;
  let pStart = 0;
  let pEnd = 0;
  while (oi < n || hn > 0) {
    while (hn > 0 && addr[heap[0]!]! + blocks[heap[0]!]! <= x) pop();
    if (hn === 0) {
      if (oi >= n) break;
      x = Math.max(x, addr[order[oi]!]!);
    }
    while (oi < n && addr[order[oi]!]! <= x) push(order[oi++]!);
    while (hn > 0 && addr[heap[0]!]! + blocks[heap[0]!]! <= x) pop();
    if (hn === 0) continue;
    const w = heap[0]!;
    let nx = addr[w]! + blocks[w]!;
    if (oi < n && addr[order[oi]!]! < nx) nx = addr[order[oi]!]!;
    if (w === pw && pEnd === x) pEnd = nx;
    else {
      if (pw >= 0) emit(t, pw, pStart, pEnd - pStart);
      pw = w;
      pStart = x;
      pEnd = nx;
    }
    x = nx;
  }
  if (pw >= 0) emit(t, pw, pStart, pEnd - pStart);
}
