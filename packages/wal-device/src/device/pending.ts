/**
 * Writes that are in the log but not yet on the data device, so that reads see them (a read
 * overlapping such a write returns the new data, as WalB's pending data does). Entries are added
 * in log order and leave in the same order, a pack at a time, once the pack's data is written.
 */
export interface PendingWrite {
  /** Byte range on the device. */
  start: number;
  end: number;
  /** The data, or null for a zeroed range (trim, write zeroes). */
  data: Uint8Array | null;
  /** lsid of the pack holding it (entries leave when that pack's data is on the device). */
  packLsid: number;
}

export class PendingWrites {
  /** Released slots (before head) are cleared, so that their data is not kept alive until compaction. */
  private items: (PendingWrite | undefined)[] = [];
  private head = 0;
  bytes = 0;

  add(p: PendingWrite): void {
    this.items.push(p);
    if (p.data) this.bytes += p.data.length;
  }

  /** Drops the entries of packs up to and including packLsid. */
  release(packLsid: number): void {
    while (this.head < this.items.length && this.items[this.head]!.packLsid <= packLsid) {
      const p = this.items[this.head]!;
      this.items[this.head++] = undefined;
      if (p.data) this.bytes -= p.data.length;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** The entries overlapping [start, end), oldest first. */
  overlapping(start: number, end: number): PendingWrite[] {
    const out: PendingWrite[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const p = this.items[i]!;
      if (p.start < end && p.end > start) out.push(p);
    }
    return out;
  }

  /** Lays the given entries (oldest first) over buf, which holds [start, start + buf.length). */
  static overlay(buf: Uint8Array, start: number, entries: PendingWrite[]): void {
    const end = start + buf.length;
    for (const p of entries) {
      const from = Math.max(p.start, start);
      const to = Math.min(p.end, end);
      if (from >= to) continue;
      if (p.data) buf.set(p.data.subarray(from - p.start, to - p.start), from - start);
      else buf.fill(0, from - start, to - start);
    }
  }
}
