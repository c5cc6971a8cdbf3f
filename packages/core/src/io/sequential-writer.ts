/**
 * Sequential writes through one large staging buffer, to a file or a pipe.
 *
 * `write` copies small pieces into the staging buffer and sends big ones straight through;
 * `reserve`/`commit` let an encoder build a structure in place without a temporary buffer.
 */
import { fdatasyncSync, writeSync } from 'node:fs';
import { ioError } from '../errors.js';
import { ioBuffer } from './buffers.js';

export interface SequentialWriterOptions {
  file?: string;
  bufferSize?: number;
  /** Absolute file offset to start at; `null` writes at the current position (pipes). */
  startOffset?: number | null;
}

const DEFAULT_BUFFER = 256 * 1024;

export class SequentialWriter {
  readonly file: string | undefined;
  private readonly buf: Buffer;
  private used = 0;
  private filePos: number | null;
  private written = 0;
  private readonly base: number;

  constructor(
    readonly fd: number,
    opts: SequentialWriterOptions = {},
  ) {
    this.file = opts.file;
    this.buf = ioBuffer(opts.bufferSize ?? DEFAULT_BUFFER);
    this.filePos = opts.startOffset === undefined ? 0 : opts.startOffset;
    this.base = this.filePos ?? 0;
  }

  /** Offset (from the start position) of the next byte written. */
  get position(): number {
    return this.base + this.written + this.used;
  }

  write(data: Uint8Array): void {
    if (data.length <= this.buf.length - this.used) {
      this.buf.set(data, this.used);
      this.used += data.length;
      return;
    }
    this.flush();
    if (data.length >= this.buf.length / 2) this.writeOut(data);
    else {
      this.buf.set(data, 0);
      this.used = data.length;
    }
  }

  /** Writes n zero bytes. */
  writeZeros(n: number): void {
    while (n > 0) {
      if (this.used === this.buf.length) this.flush();
      const k = Math.min(n, this.buf.length - this.used);
      this.buf.fill(0, this.used, this.used + k);
      this.used += k;
      n -= k;
    }
  }

  /** A writable view of n bytes at the current position (zero-filled); call commit(n) after. */
  reserve(n: number): Uint8Array {
    if (n > this.buf.length) throw new RangeError(`reserve(${n}) exceeds the staging buffer`);
    if (this.buf.length - this.used < n) this.flush();
    const view = this.buf.subarray(this.used, this.used + n);
    view.fill(0);
    return view;
  }

  commit(n: number): void {
    this.used += n;
  }

  flush(): void {
    if (this.used === 0) return;
    this.writeOut(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  /** Flushes and, for files, makes the data durable (fdatasync). */
  sync(): void {
    this.flush();
    try {
      fdatasyncSync(this.fd);
    } catch (e) {
      // Pipes and character devices cannot be synced; that is not an error.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EINVAL' && code !== 'EROFS' && code !== 'ENOTSUP') throw ioError('fdatasync', this.file, e);
    }
  }

  private writeOut(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) {
      let n: number;
      try {
        n = writeSync(this.fd, data, off, data.length - off, this.filePos);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
          continue;
        }
        throw ioError('write', this.file, e);
      }
      off += n;
      this.written += n;
      if (this.filePos !== null) this.filePos += n;
    }
  }
}
