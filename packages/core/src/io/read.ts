/** Synchronous read helpers shared by the format operations (EAGAIN on pipes is waited out). */
import { readSync } from 'node:fs';
import { ioError } from '../errors.js';
import { ioBuffer } from './buffers.js';

const WAIT = new Int32Array(new SharedArrayBuffer(4));

/**
 * Size of one read system call. Measured on this machine kind (tmpfs, page cache): read(2) into a
 * 128 KiB buffer moves 5+ GB/s, into 192 KiB or larger ones only ~1.4 GB/s; small chunks also
 * stay in the CPU cache for the checksum and copies that follow.
 */
export const DEFAULT_READ_CHUNK = 128 * 1024;

function readOnce(fd: number, buf: Uint8Array, off: number, len: number, pos: number | null, name?: string): number {
  for (;;) {
    try {
      return readSync(fd, buf, off, len, pos);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(WAIT, 0, 0, 2);
        continue;
      }
      throw ioError('read', name, e);
    }
  }
}

/** Reads until buf is full or the input ends; returns the number of bytes read. */
export function readFull(fd: number, buf: Uint8Array, pos: number | null, name?: string): number {
  let done = 0;
  while (done < buf.length) {
    const n = readOnce(fd, buf, done, buf.length - done, pos === null ? null : pos + done, name);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Reads exactly `len` bytes at `pos` into buf; a short read means the file changed under us. */
export function preadExact(fd: number, buf: Uint8Array, len: number, pos: number, name?: string): void {
  const n = readFull(fd, buf.subarray(0, len), pos, name);
  if (n < len) throw ioError('read', name, Object.assign(new Error(`file ended at byte ${pos + n} (it shrank while being read)`), { code: 'EIO' }));
}

/** Calls onChunk with successive chunks of the input until it ends (from offset 0 when seekable). */
export function readChunks(fd: number, seekable: boolean, name: string | undefined, onChunk: (chunk: Uint8Array) => void, chunkSize = DEFAULT_READ_CHUNK): void {
  const buf = ioBuffer(chunkSize);
  let pos: number | null = seekable ? 0 : null;
  for (;;) {
    const n = readOnce(fd, buf, 0, buf.length, pos, name);
    if (n === 0) return;
    if (pos !== null) pos += n;
    onChunk(buf.subarray(0, n));
  }
}
