/**
 * A block image being written by redo/apply/restore: positioned writes, zero fill, and the size
 * rule (a block device has a fixed size; a regular file grows like walb-tools lets it).
 */
import { fstatSync, writeSync, fdatasyncSync } from 'node:fs';
import { IoError, ioError } from '../errors.js';
import { blockDeviceSize } from '@blockwal/native-io';
import { LOGICAL_BLOCK_SIZE } from '../format/constants.js';

const ZEROS = Buffer.alloc(1024 * 1024);

export class ImageTarget {
  /** Size in bytes; null for a regular file (it may grow). */
  readonly fixedSize: number | null;

  constructor(
    readonly fd: number,
    readonly file: string,
  ) {
    const st = fstatSync(fd);
    this.fixedSize = st.isBlockDevice() ? blockDeviceSize(fd) : null;
  }

  /** Writes data at a byte offset. */
  write(data: Uint8Array, byteOffset: number): void {
    this.checkRange(byteOffset, data.length);
    let off = 0;
    while (off < data.length) {
      try {
        off += writeSync(this.fd, data, off, data.length - off, byteOffset + off);
      } catch (e) {
        throw ioError('write', this.file, e);
      }
    }
  }

  /** Writes zeros over a range of lb. */
  zeroBlocks(address: number, blocks: number): void {
    let pos = address * LOGICAL_BLOCK_SIZE;
    let left = blocks * LOGICAL_BLOCK_SIZE;
    this.checkRange(pos, left);
    while (left > 0) {
      const k = Math.min(left, ZEROS.length);
      this.write(ZEROS.subarray(0, k), pos);
      pos += k;
      left -= k;
    }
  }

  sync(): void {
    try {
      fdatasyncSync(this.fd);
    } catch (e) {
      throw ioError('fdatasync', this.file, e);
    }
  }

  private checkRange(byteOffset: number, length: number): void {
    if (this.fixedSize !== null && byteOffset + length > this.fixedSize) {
      throw new IoError(`write of ${length} bytes at byte ${byteOffset} goes beyond the end of the device (${this.fixedSize} bytes)`, { file: this.file, offset: byteOffset });
    }
  }
}
