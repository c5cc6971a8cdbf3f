/**
 * Sequential reads of a file or pipe through one large reusable buffer.
 *
 * `read(n)` returns a view of the next n bytes that stays valid until the next call; most calls
 * copy nothing. Shorter views mean end of file. Synchronous on purpose: the format operations run
 * on their own (CLI, or a worker thread in the servers) and sync reads of big chunks are the
 * cheapest way to move bytes in Node.
 */
import { readSync } from 'node:fs';
import { ioError } from '../errors.js';
import { DEFAULT_READ_CHUNK } from './read.js';
import { IO_ALIGN, ioBuffer } from './buffers.js';

export interface SequentialReaderOptions {
  /** Name used in error messages. */
  file?: string;
  /** Initial buffer size; the buffer grows when a single read asks for more. */
  bufferSize?: number;
  /** Absolute file offset to start at; `null` reads from the current position (pipes). */
  startOffset?: number | null;
}

/**
 * Small on purpose: reads then land in the same cache-resident bytes again and again, which is
 * several times faster than cycling through megabytes (see DEFAULT_READ_CHUNK). The buffer grows
 * when one read asks for more.
 */
const DEFAULT_BUFFER = 256 * 1024;

export class SequentialReader {
  readonly file: string | undefined;
  private buf: Buffer;
  private start = 0; // first unread byte in buf
  private end = 0; // end of valid bytes in buf
  private filePos: number | null; // next file offset to read (null: a pipe)
  private consumed = 0; // bytes handed out so far
  private eof = false;
  private readonly base: number;

  constructor(
    private readonly fd: number,
    opts: SequentialReaderOptions = {},
  ) {
    this.file = opts.file;
    this.buf = ioBuffer((opts.bufferSize ?? DEFAULT_BUFFER) + IO_ALIGN);
    this.filePos = opts.startOffset === undefined ? 0 : opts.startOffset;
    this.base = this.filePos ?? 0;
  }

  /** Byte offset (from the start position) of the next byte `read` returns. */
  get position(): number {
    return this.base + this.consumed;
  }

  /** The next n bytes, or fewer at end of input. The view is valid until the next call. */
  read(n: number): Uint8Array {
    if (this.end - this.start < n) this.fill(n);
    const take = Math.min(n, this.end - this.start);
    const view = this.buf.subarray(this.start, this.start + take);
    this.start += take;
    this.consumed += take;
    return view;
  }

  /** Skips n bytes; returns how many were skipped (fewer at end of input). */
  skip(n: number): number {
    let left = n;
    while (left > 0) {
      const avail = this.end - this.start;
      if (avail >= left) {
        this.start += left;
        this.consumed += left;
        return n;
      }
      this.start = this.end;
      this.consumed += avail;
      left -= avail;
      if (this.filePos !== null && !this.eof) {
        // Seekable: jump without reading.
        this.filePos += left;
        this.consumed += left;
        this.start = this.end = 0;
        // Confirm the skipped range exists by reading on; a short file shows as EOF later.
        return n;
      }
      this.fill(Math.min(left, this.buf.length));
      if (this.end === this.start) return n - left;
    }
    return n;
  }

  /** True when no byte is left. */
  atEof(): boolean {
    if (this.end > this.start) return false;
    this.fill(1);
    return this.end === this.start;
  }

  private fill(n: number): void {
    const have = this.end - this.start;
    // Keep buffer offsets congruent to file offsets modulo the page: read(2) copies several
    // times faster that way (io/buffers.ts).
    const lead = this.filePos === null ? 0 : (((this.filePos - have) % IO_ALIGN) + IO_ALIGN) % IO_ALIGN;
    if (lead + n > this.buf.length) {
      const bigger = ioBuffer(Math.max(lead + n, this.buf.length * 2));
      this.buf.copy(bigger, lead, this.start, this.end);
      this.buf = bigger;
    } else if (this.start !== lead) {
      this.buf.copy(this.buf, lead, this.start, this.end);
    }
    this.start = lead;
    this.end = lead + have;
    while (this.end - this.start < n && !this.eof) {
      let got: number;
      try {
        got = readSync(this.fd, this.buf, this.end, Math.min(DEFAULT_READ_CHUNK, this.buf.length - this.end), this.filePos);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
          continue;
        }
        throw ioError('read', this.file, e);
      }
      if (got === 0) {
        this.eof = true;
        break;
      }
      this.end += got;
      if (this.filePos !== null) this.filePos += got;
    }
  }
}
