/**
 * Asynchronous positioned writes of many buffers in one call, off the event loop: buffer i goes
 * to file offset positions[i], in order (later buffers win where they overlap), and buffers that
 * continue each other in the file share one pwritev. Native: one thread-pool job per call.
 * Fallback: fs.writev per run of contiguous buffers, one after another.
 *
 * `startWriteback` starts writing the dirty pages of ranges of a file out (sync_file_range WRITE
 * on each (offset, length) pair, on the thread pool) without waiting for them: a later fdatasync
 * then has little left to do. A hint only: it resolves to false where it cannot be done (no
 * addon, not Linux) and never fails.
 */
import fs from 'node:fs';
import { native, nativeError } from './native.js';

export function writeManyAsync(fd: number, buffers: Uint8Array[], positions: Float64Array, count = buffers.length): Promise<number> {
  if (count === 0) return Promise.resolve(0);
  if (native !== null) {
    return new Promise((resolve, reject) => {
      native!.writeManyAsync(fd, buffers, positions, count, (err, bytes) => (err ? reject(nativeError(err, { op: 'write' })) : resolve(bytes)));
    });
  }
  return writeManyJs(fd, buffers, positions, count);
}

async function writeManyJs(fd: number, buffers: Uint8Array[], positions: Float64Array, count: number): Promise<number> {
  let total = 0;
  let i = 0;
  while (i < count) {
    let j = i + 1;
    let end = positions[i]! + buffers[i]!.length;
    while (j < count && positions[j] === end) end += buffers[j++]!.length;
    const run = buffers.slice(i, j);
    let at = positions[i]!;
    while (run.length > 0) {
      const { bytesWritten } = await new Promise<{ bytesWritten: number }>((resolve, reject) =>
        fs.writev(fd, run, at, (err, bytesWritten) => (err ? reject(err) : resolve({ bytesWritten }))),
      );
      total += bytesWritten;
      at += bytesWritten;
      let left = bytesWritten;
      while (run.length > 0 && left >= run[0]!.length) left -= run.shift()!.length;
      if (left > 0) run[0] = run[0]!.subarray(left);
    }
    i = j;
  }
  return total;
}

export function startWriteback(fd: number, ranges: Float64Array, count = ranges.length / 2): Promise<boolean> {
  if (native === null || typeof native.startWritebackAsync !== 'function' || count === 0) return Promise.resolve(false);
  return new Promise((resolve) => native!.startWritebackAsync!(fd, ranges, count, (err) => resolve(err === null)));
}
