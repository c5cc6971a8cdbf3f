/**
 * File and block-device operations. Reads and writes go through Node's fs.readSync/writeSync
 * (they pass the buffer pointer straight to pread/pwrite, so aligned buffers from allocAligned()
 * work with O_DIRECT); the addon adds what Node lacks: O_DIRECT switching, fallocate, FICLONE and
 * the block-device ioctls. Every operation says which path ran or has a documented fallback.
 */
import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { allocAligned } from './buffers.js';
import { isAllZero } from './checksum.js';
import { native, nativeError, notSupportedError } from './native.js';

export interface OpenFileOptions {
  /** Open read-write (O_RDWR); read-only otherwise. */
  write?: boolean;
  /** O_CREAT (mode 0o644 unless `mode` is given). */
  create?: boolean;
  /** O_TRUNC. */
  truncate?: boolean;
  /** O_EXCL (with create: fail when the file exists). */
  exclusive?: boolean;
  /**
   * Ask for O_DIRECT. Silently falls back to buffered I/O when the filesystem refuses it
   * (EINVAL, e.g. procfs, or tmpfs before Linux 6.6) or when the addon is not loaded (no aligned
   * buffers then); the result's `direct` says which.
   */
  direct?: boolean;
  mode?: number;
}

export interface OpenedFile {
  fd: number;
  /** True when O_DIRECT is in effect: buffers, offsets and lengths must then be aligned. */
  direct: boolean;
}

/** O_DIRECT is usable: Linux, the addon loaded (aligned buffers, fcntl). */
export const directIoAvailable = native !== null && typeof fs.constants.O_DIRECT === 'number' && process.platform === 'linux';

/**
 * Opens a file. The file is opened without O_DIRECT first and O_DIRECT is then switched on with
 * fcntl(F_SETFL): a refusal can then never leave behind a file created by O_CREAT|O_EXCL.
 */
export function openFile(path: string, opts: OpenFileOptions = {}): OpenedFile {
  const c = fs.constants;
  let flags = opts.write ? c.O_RDWR : c.O_RDONLY;
  if (opts.create) flags |= c.O_CREAT;
  if (opts.truncate) flags |= c.O_TRUNC;
  if (opts.exclusive) flags |= c.O_EXCL;
  const fd = fs.openSync(path, flags, opts.mode ?? 0o644);
  if (!opts.direct || !directIoAvailable || native === null) return { fd, direct: false };
  try {
    native.setDirect(fd, true);
    return { fd, direct: true };
  } catch (e) {
    const err = nativeError(e, { path, op: 'O_DIRECT' });
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return { fd, direct: false };
    fs.closeSync(fd);
    throw err;
  }
}

/**
 * pread until `buf` is full or end of file. Returns the bytes read (< buf.length only at EOF).
 * With O_DIRECT, buf must be aligned and offset/length multiples of the logical block size.
 */
export function preadFull(fd: number, buf: Uint8Array, offset: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** pwrite all of `buf` at `offset` (loops over short writes). */
export function pwriteFull(fd: number, buf: Uint8Array, offset: number): void {
  let done = 0;
  while (done < buf.length) {
    done += fs.writeSync(fd, buf, done, buf.length - done, offset + done);
  }
}

/** fdatasync(2): Node's own, re-exported so that callers need only this module. */
export function fdatasync(fd: number): void {
  fs.fdatasyncSync(fd);
}

/**
 * Which path a zeroing call took. 'write-zeros' writes 1 MiB aligned chunks with pwrite; on an
 * O_DIRECT descriptor the offset and length must then be multiples of the logical block size.
 */
export type ZeroingPath = 'punch-hole' | 'zero-range' | 'write-zeros';

/** fallocate errors meaning "this file/filesystem cannot do it": fall back to writing zeros. */
const FALLOCATE_UNSUPPORTED = new Set(['EOPNOTSUPP', 'ENOTSUP', 'ENOSYS']);

let zeroChunk: Buffer | undefined;
const ZERO_CHUNK_BYTES = 1 << 20;

function writeZeros(fd: number, offset: number, length: number): void {
  zeroChunk ??= allocAligned(ZERO_CHUNK_BYTES);
  for (let done = 0; done < length; ) {
    const n = Math.min(ZERO_CHUNK_BYTES, length - done);
    pwriteFull(fd, zeroChunk.subarray(0, n), offset + done);
    done += n;
  }
}

function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`);
}

/**
 * Deallocates [offset, offset+length) keeping the file size (FALLOC_FL_PUNCH_HOLE|KEEP_SIZE): the
 * range reads as zeros. Fallback (no addon, or the filesystem refuses): writes zeros over the part
 * of the range below the current size (the size never changes). Returns which path ran.
 */
export function punchHole(fd: number, offset: number, length: number): ZeroingPath {
  checkRange(offset, length);
  if (length === 0) return 'punch-hole';
  if (native !== null) {
    try {
      native.punchHole(fd, offset, length);
      return 'punch-hole';
    } catch (e) {
      const err = nativeError(e, { op: 'punch hole' });
      if (!FALLOCATE_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }
  const size = blockDeviceSize(fd);
  const end = Math.min(offset + length, size);
  if (end > offset) writeZeros(fd, offset, end - offset);
  return 'write-zeros';
}

/**
 * Makes [offset, offset+length) read as zeros (FALLOC_FL_ZERO_RANGE; the file grows when the
 * range ends beyond it). Fallback: writes zeros over the range. Returns which path ran.
 */
export function zeroRange(fd: number, offset: number, length: number): ZeroingPath {
  checkRange(offset, length);
  if (length === 0) return 'zero-range';
  if (native !== null) {
    try {
      native.zeroRange(fd, offset, length);
      return 'zero-range';
    } catch (e) {
      const err = nativeError(e, { op: 'zero range' });
      if (!FALLOCATE_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }
  writeZeros(fd, offset, length);
  return 'write-zeros';
}

/** FICLONE errors meaning "no reflink here" (ext4, tmpfs, across filesystems...). */
const REFLINK_UNSUPPORTED = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'EINVAL', 'ENOTTY', 'ENOSYS']);

/**
 * Makes dstFd a copy-on-write clone of the whole of srcFd (ioctl FICLONE; XFS, btrfs...).
 * Returns false, without changing dst, when the filesystem cannot (EOPNOTSUPP, EXDEV, EINVAL,
 * ENOTTY) or the addon is not loaded; other errors (EBADF, ETXTBSY, ENOSPC...) throw.
 */
export function reflink(srcFd: number, dstFd: number): boolean {
  if (native === null) return false;
  try {
    native.reflink(srcFd, dstFd);
    return true;
  } catch (e) {
    const err = nativeError(e, { op: 'FICLONE' });
    if (REFLINK_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) return false;
    throw err;
  }
}

/**
 * Makes dst's content equal to src's: a reflink when possible, else a copy in 1 MiB chunks that
 * leaves all-zero chunks as holes (dst is truncated first, then sized to src). Returns the path.
 */
export function cloneOrCopy(srcFd: number, dstFd: number): 'reflink' | 'copy' {
  if (reflink(srcFd, dstFd)) return 'reflink';
  const size = fs.fstatSync(srcFd).size;
  fs.ftruncateSync(dstFd, 0);
  const chunk = allocAligned(ZERO_CHUNK_BYTES);
  for (let off = 0; off < size; ) {
    const n = preadFull(srcFd, chunk.subarray(0, Math.min(chunk.length, size - off)), off);
    if (n === 0) break;
    const data = chunk.subarray(0, n);
    if (!isAllZero(data)) pwriteFull(dstFd, data, off);
    off += n;
  }
  fs.ftruncateSync(dstFd, size);
  return 'copy';
}

function statOf(fd: number): fs.Stats {
  return fs.fstatSync(fd);
}

function notBlockDevice(syscall: string): NodeJS.ErrnoException {
  const errno = (osConstants.errno as Record<string, number | undefined>)['ENOTBLK'] ?? 15;
  const err = new Error(`ENOTBLK: block device required, ${syscall}`) as NodeJS.ErrnoException;
  err.code = 'ENOTBLK';
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

/** The sysfs directory of a block device (JS fallback of the ioctls). */
function sysfsDir(st: fs.Stats): string {
  // glibc's gnu_dev_major/minor encoding of st_rdev.
  const rdev = BigInt(st.rdev);
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return `/sys/dev/block/${major}:${minor}`;
}

function readSysfsNumber(file: string): number {
  const v = Number(fs.readFileSync(file, 'utf8').trim());
  if (!Number.isSafeInteger(v)) throw new Error(`unexpected content in ${file}`);
  return v;
}

/**
 * Size in bytes: BLKGETSIZE64 for a block device (sysfs `size` × 512 without the addon); the
 * fstat size for a regular file. Other file types throw ENOTBLK.
 */
export function blockDeviceSize(fd: number): number {
  const st = statOf(fd);
  if (st.isFile()) return st.size;
  if (!st.isBlockDevice()) throw notBlockDevice('ioctl');
  if (native !== null) {
    try {
      return native.blockDeviceSize(fd);
    } catch (e) {
      throw nativeError(e, { op: 'BLKGETSIZE64' });
    }
  }
  return readSysfsNumber(`${sysfsDir(st)}/size`) * 512;
}

/**
 * Physical block size of a block device (BLKPBSZGET; sysfs `queue/physical_block_size` without
 * the addon). A regular file has none: ENOTBLK (walb-tools assumes 512 there; callers decide).
 */
export function blockDevicePbs(fd: number): number {
  const st = statOf(fd);
  if (!st.isBlockDevice()) throw notBlockDevice('ioctl');
  if (native !== null) {
    try {
      return native.blockDevicePbs(fd);
    } catch (e) {
      throw nativeError(e, { op: 'BLKPBSZGET' });
    }
  }
  const dir = sysfsDir(st);
  for (const f of [`${dir}/queue/physical_block_size`, `${dir}/../queue/physical_block_size`]) {
    if (fs.existsSync(f)) return readSysfsNumber(f);
  }
  throw notSupportedError('ioctl', `no physical_block_size under ${dir}`);
}

/** BLKDISCARD [offset, offset+length) of a block device. Needs the addon (ENOSYS otherwise). */
export function blkDiscard(fd: number, offset: number, length: number): void {
  checkRange(offset, length);
  if (!statOf(fd).isBlockDevice()) throw notBlockDevice('ioctl');
  if (native === null) throw notSupportedError('ioctl', 'BLKDISCARD needs the native addon');
  try {
    native.blkDiscard(fd, offset, length);
  } catch (e) {
    throw nativeError(e, { op: 'BLKDISCARD' });
  }
}
