/**
 * Read buffers lent to exports (NbdExport.readInto) and taken back once the reply is written, so
 * reads do not allocate (and fault in) fresh memory each time (PERF-NOTES "Reuse buffers").
 * Buffers come in power-of-two classes from 4 KiB; at most maxPooledBytes are kept idle, and
 * anything beyond is left to the garbage collector. They are page-aligned: read(2) from the page
 * cache into a buffer 16 bytes past a page boundary (where malloc puts them) copies 3-4x slower.
 */
import { allocAligned } from '@blockwal/native-io';

const MIN_CLASS = 4096;

export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private idleBytes = 0;

  constructor(private readonly maxPooledBytes = 64 * 1024 * 1024) {}

  /** A buffer of at least `length` bytes (its whole capacity; use subarray). */
  acquire(length: number): Buffer {
    let size = MIN_CLASS;
    while (size < length) size *= 2;
    const list = this.free.get(size);
    const b = list?.pop();
    if (b) {
      this.idleBytes -= size;
      return b;
    }
    return allocAligned(size, 4096, false);
  }

  /** Gives back a buffer obtained from acquire(); nobody may use it any more. */
  release(b: Buffer): void {
    const size = b.length;
    if (this.idleBytes + size > this.maxPooledBytes) return;
    let list = this.free.get(size);
    if (!list) {
      list = [];
      this.free.set(size, list);
    }
    list.push(b);
    this.idleBytes += size;
  }

  /** Bytes held idle in the pool. */
  get pooledBytes(): number {
    return this.idleBytes;
  }
}
