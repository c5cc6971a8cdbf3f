/**
 * @blockwal/native-io: the native seam of blockwal. An N-API addon (built at install by
 * scripts/build.mjs) with a pure-JS fallback for everything a plain file needs:
 *
 * - checksums: walbChecksum, isAllZero
 * - memory: allocAligned, isAligned
 * - files: openFile (O_DIRECT when possible), preadFull, pwriteFull, fdatasync, punchHole,
 *   zeroRange, reflink, cloneOrCopy, blockDeviceSize, blockDevicePbs, blkDiscard
 * - the WalB driver's ioctls: walb-ctl.ts (struct encoding) and walb-ioctl.ts (typed calls)
 * - codecs into caller buffers: snappy, lz4, zstd, lzma (only when the libraries were found)
 * - nativeInfo(): what is native and why not
 *
 * Native errors become Node-style errors (`code` = errno name) in one place: native.ts.
 */
export { walbChecksum, isAllZero, NATIVE_MIN_BYTES } from './checksum.js';
export { allocAligned, isAligned, alignedBuffersAvailable, DEFAULT_ALIGNMENT } from './buffers.js';
export {
  openFile,
  preadFull,
  pwriteFull,
  fdatasync,
  punchHole,
  zeroRange,
  reflink,
  cloneOrCopy,
  blockDeviceSize,
  blockDevicePbs,
  blkDiscard,
  directIoAvailable,
  type OpenFileOptions,
  type OpenedFile,
  type ZeroingPath,
} from './files.js';
export * from './walb-ctl.js';
export * from './walb-ioctl.js';
export * from './codecs.js';
export { IoPlan, pwriteBatch, preadBatch } from './batch-io.js';
export { writeManyAsync, startWriteback } from './async-io.js';
export { nativeInfo, type NativeInfo } from './info.js';
export { nativeError, type NativeSystemError } from './native.js';
