/**
 * Buffers for read(2) and write(2): page-aligned (native-io's allocAligned; a plain zeroed Buffer
 * without the addon).
 *
 * Measured here (AMD EPYC, Linux 6.18): read(2) from the page cache into a buffer whose address
 * lies 16 bytes past a page boundary, which is where malloc puts a 128 KiB Buffer, moves 1.6-2 GB/s;
 * into a page-aligned one 6-7 GB/s. The kernel's copy (rep movsb) takes a slow path when the
 * destination sits less than 64 bytes after the source within a page. Every staging buffer of
 * the format operations is therefore aligned, and readers keep buffer offsets congruent to file
 * offsets modulo the page (see SequentialReader).
 */
import { allocAligned } from '@blockwal/native-io';

export const IO_ALIGN = 4096;

/** A zero-filled, page-aligned Buffer of `size` bytes (allocate once, reuse). */
export function ioBuffer(size: number): Buffer {
  return allocAligned(size, IO_ALIGN);
}

/** A page-aligned Buffer whose contents are not set: for one that a read fills at once. */
export function readBuffer(size: number): Buffer {
  return allocAligned(size, IO_ALIGN, false);
}

/** Where literalBuffer's views start within a page. */
const LITERAL_OFFSET = 256;

/**
 * A zero-filled Buffer that starts 256 bytes into a page (with the addon): the output of a
 * compressor, which copies literal runs of its input a few bytes further into the output. With
 * the input at a multiple of 512 within a page (record data) and an aligned output, those copies
 * run 5-10 bytes "ahead" of their source, the slow case above: offset by half of 512, they never are.
 */
export function literalBuffer(size: number): Buffer {
  return ioBuffer(size + LITERAL_OFFSET).subarray(LITERAL_OFFSET);
}
