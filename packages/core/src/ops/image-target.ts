/**
 * A block image being written by redo/apply/restore: positioned writes, zero fill, and the size
 * rule (a block device has a fixed size; a regular file grows like walb-tools lets it).
 *
 * Small writes are gathered in a staging buffer (small enough to stay in the CPU cache) and issued
 * in one native call per buffer-full (pwriteBatch: writes that continue each other become one
 * system call), in the order they were made, so a later write still wins. Large writes go
 * straight through. Zero fill of large ranges punches a hole in a regular file (it then reads as
 * zeros and takes no space; the file is extended when the range passes its end) and uses
 * fallocate(ZERO_RANGE) on a block device; both fall back to writing zeros.
 */
import { closeSync, fstatSync, fdatasyncSync, ftruncateSync } from 'node:fs';
import { IoError, ioError } from '../errors.js';
import { IoPlan, blockDeviceSize, punchHole, pwriteBatch, pwriteFull, zeroRange } from '@blockwal/native-io';
import { LOGICAL_BLOCK_SIZE } from '../format/constants.js';
import { ioBuffer } from '../io/buffers.js';

const STAGE_BYTES = 256 * 1024;
/** Zero ranges at least this long go to fallocate instead of the staging buffer. */
const ZERO_RANGE_BYTES = 64 * 1024;

export class ImageTarget {
  /** Size in bytes; null for a regular file (it may grow). */
  readonly fixedSize: number | null;
  private readonly stage = ioBuffer(STAGE_BYTES);
  private used = 0;
  private readonly plan = new IoPlan(256);
  /** Size of a regular file once every write so far has been issued. */
  private fileSize: number;

  constructor(
    readonly fd: number,
    readonly file: string,
  ) {
    const st = fstatSync(fd);
    this.fixedSize = st.isBlockDevice() ? blockDeviceSize(fd) : null;
    this.fileSize = st.size;
  }

  /** Writes data at a byte offset (the data may be reused by the caller right after). */
  write(data: Uint8Array, byteOffset: number): void {
    this.checkRange(byteOffset, data.length);
    this.fileSize = Math.max(this.fileSize, byteOffset + data.length);
    if (data.length > STAGE_BYTES / 2) {
      this.flush();
      this.io('write', () => pwriteFull(this.fd, data, byteOffset));
      return;
    }
    if (this.used + data.length > STAGE_BYTES) this.flush();
    this.stage.set(data, this.used);
    this.plan.add(this.used, byteOffset, data.length);
    this.used += data.length;
  }

  /** Makes a range of lb read as zeros. */
  zeroBlocks(address: number, blocks: number): void {
    const pos = address * LOGICAL_BLOCK_SIZE;
    const len = blocks * LOGICAL_BLOCK_SIZE;
    this.checkRange(pos, len);
    if (len >= ZERO_RANGE_BYTES) {
      this.flush();
      if (this.fixedSize !== null) this.io('zero range', () => zeroRange(this.fd, pos, len));
      else {
        this.io('punch hole', () => punchHole(this.fd, pos, len));
        if (pos + len > this.fileSize) this.io('extend', () => ftruncateSync(this.fd, pos + len));
      }
      this.fileSize = Math.max(this.fileSize, pos + len);
      return;
    }
    this.fileSize = Math.max(this.fileSize, pos + len);
    if (this.used + len > STAGE_BYTES) this.flush();
    this.stage.fill(0, this.used, this.used + len);
    this.plan.add(this.used, pos, len);
    this.used += len;
  }

  /** Issues the gathered writes. */
  flush(): void {
    if (this.plan.count === 0) return;
    this.io('write', () => pwriteBatch(this.fd, this.stage, this.plan));
    this.plan.clear();
    this.used = 0;
  }

  /** Flushes and makes everything durable. */
  sync(): void {
    this.flush();
    this.io('fdatasync', () => fdatasyncSync(this.fd));
  }

  /** Flushes and closes the file descriptor. */
  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }

  private io<T>(op: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw ioError(op, this.file, e);
    }
  }

  private checkRange(byteOffset: number, length: number): void {
    if (this.fixedSize !== null && byteOffset + length > this.fixedSize) {
      throw new IoError(`write of ${length} bytes at byte ${byteOffset} goes beyond the end of the device (${this.fixedSize} bytes)`, { file: this.file, offset: byteOffset });
    }
  }
}
