/** Positioned reads on a file descriptor, off the event loop. */
import fs from 'node:fs';
import { ioError } from '@blockwal/core';

/** Fills buf from position; bytes past the end of the file read as zeros. */
export async function readFull(fd: number, buf: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    let n: number;
    try {
      n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, done, buf.length - done, position + done, (e, k) => (e ? reject(e) : resolve(k))));
    } catch (e) {
      throw ioError('read', file, e);
    }
    if (n === 0) {
      buf.fill(0, done);
      return;
    }
    done += n;
  }
}

/** Reads the super-sector block of a log device file (byte 4096, one page). */
export function readSync(fd: number, buf: Uint8Array, position: number, file: string): number {
  try {
    return fs.readSync(fd, buf, 0, buf.length, position);
  } catch (e) {
    throw ioError('read', file, e);
  }
}
