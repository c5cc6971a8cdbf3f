/** Runs a WlogDecoder over a file descriptor (a file or a pipe), in large chunks. */
import { readSync } from 'node:fs';
import { ioError } from '../errors.js';
import { WlogDecoder, type WlogVisitor } from './wlog-decoder.js';

const CHUNK = 4 * 1024 * 1024;

export interface DecodeWlogOptions {
  file?: string;
  /** Read position for seekable inputs (default 0); null reads from the current position. */
  position?: number | null;
  chunkSize?: number;
}

/** Decodes a whole wlog stream; returns the decoder (its header and real end lsid). */
export function decodeWlogFd(fd: number, visitor: WlogVisitor, opts: DecodeWlogOptions = {}): WlogDecoder {
  const dec = new WlogDecoder(visitor, opts.file);
  const buf = Buffer.allocUnsafeSlow(opts.chunkSize ?? CHUNK);
  let pos: number | null = opts.position === undefined ? 0 : opts.position;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, pos);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      throw ioError('read', opts.file, e);
    }
    if (n === 0) break;
    if (pos !== null) pos += n;
    dec.push(buf.subarray(0, n));
  }
  dec.end();
  return dec;
}
