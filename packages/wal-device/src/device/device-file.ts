/**
 * The I/O seam of the WAL device: the log device and the data device as files (or block
 * devices). Two implementations: the real one (positioned I/O on a file descriptor, async on the
 * thread pool) and a power-loss simulation (volatile-file.ts) for crash tests.
 */
import fs from 'node:fs';
import { blockDeviceSize, punchHole, startWriteback, writeManyAsync, zeroRange } from '@blockwal/native-io';

export interface DeviceFile {
  readonly name: string;
  readonly fd: number;
  /** Size in bytes (a block device's size, or a regular file's current size). */
  size(): number;
  /** Writes buffers back to back at position. */
  writev(buffers: Uint8Array[], position: number): Promise<void>;
  /** writev, synchronously (for page-cache writes on the acknowledgement path). */
  writevSync(buffers: Uint8Array[], position: number): void;
  /** Writes buffers[i] at positions[i], in order. */
  writeMany(buffers: Uint8Array[], positions: Float64Array, count: number): Promise<void>;
  /** Fills buf from position; bytes past the end of the file read as zeros. */
  read(buf: Uint8Array, position: number): Promise<void>;
  readSync(buf: Uint8Array, position: number): number;
  writeSync(buf: Uint8Array, position: number): void;
  /** Makes a range read as zeros: punch a hole (keep allocation when `keep`). */
  zero(position: number, length: number, keep: boolean): void;
  datasync(): Promise<void>;
  datasyncSync(): void;
  /** Starts writing the dirty pages of (offset, length) ranges out, not waiting (a hint; never fails). */
  startWriteback(ranges: Float64Array): Promise<void>;
  truncate(size: number): void;
  close(): void;
}

export class RealDeviceFile implements DeviceFile {
  private readonly blockDevice: boolean;

  constructor(
    readonly fd: number,
    readonly name: string,
  ) {
    this.blockDevice = fs.fstatSync(fd).isBlockDevice();
  }

  static open(path: string): RealDeviceFile {
    return new RealDeviceFile(fs.openSync(path, 'r+'), path);
  }

  size(): number {
    return this.blockDevice ? blockDeviceSize(this.fd) : fs.fstatSync(this.fd).size;
  }

  writev(buffers: Uint8Array[], position: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const total = buffers.reduce((s, b) => s + b.length, 0);
      fs.writev(this.fd, buffers, position, (err, n) => {
        if (err) reject(err);
        else if (n === total) resolve();
        else this.writevRest(buffers, position, n).then(resolve, reject);
      });
    });
  }

  writevSync(buffers: Uint8Array[], position: number): void {
    const total = buffers.reduce((s, b) => s + b.length, 0);
    let done = fs.writevSync(this.fd, buffers, position);
    if (done === total) return;
    // A short write: finish buffer by buffer.
    let at = 0;
    for (const b of buffers) {
      const end = at + b.length;
      if (end > done) {
        const from = Math.max(0, done - at);
        this.writeSync(b.subarray(from), position + at + from);
        done = end;
      }
      at = end;
    }
  }

  private async writevRest(buffers: Uint8Array[], position: number, done: number): Promise<void> {
    const positions = new Float64Array(buffers.length);
    const rest: Uint8Array[] = [];
    let at = position;
    let skip = done;
    for (const b of buffers) {
      if (skip >= b.length) {
        skip -= b.length;
        at += b.length;
        continue;
      }
      positions[rest.length] = at + skip;
      rest.push(b.subarray(skip));
      at += b.length;
      skip = 0;
    }
    await writeManyAsync(this.fd, rest, positions, rest.length);
  }

  async writeMany(buffers: Uint8Array[], positions: Float64Array, count: number): Promise<void> {
    await writeManyAsync(this.fd, buffers, positions, count);
  }

  read(buf: Uint8Array, position: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        if (done >= buf.length) return resolve();
        fs.read(this.fd, buf, done, buf.length - done, position + done, (err, n) => {
          if (err) return reject(err);
          if (n === 0) {
            buf.fill(0, done);
            return resolve();
          }
          step(done + n);
        });
      };
      step(0);
    });
  }

  readSync(buf: Uint8Array, position: number): number {
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(this.fd, buf, done, buf.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  writeSync(buf: Uint8Array, position: number): void {
    let done = 0;
    while (done < buf.length) done += fs.writeSync(this.fd, buf, done, buf.length - done, position + done);
  }

  zero(position: number, length: number, keep: boolean): void {
    if (length === 0) return;
    if (keep || this.blockDevice) zeroRange(this.fd, position, length);
    else {
      punchHole(this.fd, position, length);
      if (position + length > fs.fstatSync(this.fd).size) fs.ftruncateSync(this.fd, position + length);
    }
  }

  async startWriteback(ranges: Float64Array): Promise<void> {
    await startWriteback(this.fd, ranges);
  }

  datasync(): Promise<void> {
    return new Promise((resolve, reject) => fs.fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }

  datasyncSync(): void {
    fs.fdatasyncSync(this.fd);
  }

  truncate(size: number): void {
    fs.ftruncateSync(this.fd, size);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
