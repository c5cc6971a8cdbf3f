/**
 * Batched positioned I/O over one buffer: a plan of (bufferOffset, fileOffset, length) entries
 * run as pwrite/pread calls in one native call (entries that continue each other in the buffer
 * and in the file are merged). The pure-JS fallback loops over fs.writeSync/readSync.
 * A read that meets end of file inside an entry fails with ENODATA.
 */
import fs from 'node:fs';
import { native, nativeError } from './native.js';

export class IoPlan {
  plan: Float64Array;
  count = 0;

  constructor(capacity = 1024) {
    this.plan = new Float64Array(capacity * 3);
  }

  add(bufferOffset: number, fileOffset: number, length: number): void {
    if (this.count * 3 === this.plan.length) {
      const bigger = new Float64Array(this.plan.length * 2);
      bigger.set(this.plan);
      this.plan = bigger;
    }
    const i = this.count++ * 3;
    this.plan[i] = bufferOffset;
    this.plan[i + 1] = fileOffset;
    this.plan[i + 2] = length;
  }

  clear(): void {
    this.count = 0;
  }
}

/** Runs every write of the plan; returns the bytes written. */
export function pwriteBatch(fd: number, buf: Uint8Array, p: IoPlan): number {
  if (p.count === 0) return 0;
  if (native !== null) {
    try {
      return native.pwriteBatch(fd, buf, p.plan, p.count);
    } catch (e) {
      throw nativeError(e, { op: 'batched write' });
    }
  }
  let total = 0;
  for (let i = 0; i < p.count * 3; i += 3) {
    const [b, f, l] = [p.plan[i]!, p.plan[i + 1]!, p.plan[i + 2]!];
    for (let done = 0; done < l; ) done += fs.writeSync(fd, buf, b + done, l - done, f + done);
    total += l;
  }
  return total;
}

/** Runs every read of the plan; returns the bytes read. */
export function preadBatch(fd: number, buf: Uint8Array, p: IoPlan): number {
  if (p.count === 0) return 0;
  if (native !== null) {
    try {
      return native.preadBatch(fd, buf, p.plan, p.count);
    } catch (e) {
      throw nativeError(e, { op: 'batched read' });
    }
  }
  let total = 0;
  for (let i = 0; i < p.count * 3; i += 3) {
    const [b, f, l] = [p.plan[i]!, p.plan[i + 1]!, p.plan[i + 2]!];
    for (let done = 0; done < l; ) {
      const n = fs.readSync(fd, buf, b + done, l - done, f + done);
      if (n === 0) throw Object.assign(new Error(`ENODATA: end of file at byte ${f + done}, pread`), { code: 'ENODATA', syscall: 'pread' });
      done += n;
    }
    total += l;
  }
  return total;
}
