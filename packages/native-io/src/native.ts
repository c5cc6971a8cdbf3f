/**
 * The native seam, declared in one typed file: loads build/Release/blockwal_native.node (built by
 * scripts/build.mjs) and converts every error the addon throws into a Node-style error in ONE
 * function, {@link nativeError}.
 *
 * `BLOCKWAL_NATIVE=0` in the environment disables the addon; a load failure also falls back to
 * the pure-JS implementations, and the reason is kept for `nativeInfo()`.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { getSystemErrorName } from 'node:util';

/** What the addon reports about itself (compiled-in features). */
export interface NativeBuildInfo {
  addonVersion: string;
  napiVersion: number;
  compiler: string;
  linux: boolean;
  codecs: { snappy: boolean; lz4: boolean; zstd: boolean; lzma: boolean };
  codecVersions: { snappy?: string; lz4?: string; zstd?: string; lzma?: string };
}

/**
 * The functions of blockwal_native.node. Buffers are any Uint8Array (byteOffset honoured).
 * Errors: see native/common.h (errno errors carry `errno` + `syscall`; codec errors carry
 * `code: 'ERR_BLOCKWAL_CODEC'` + `codec`).
 */
export interface NativeBinding {
  info(): NativeBuildInfo;
  walbChecksum(buf: Uint8Array, salt: number): number;
  isAllZero(buf: Uint8Array): boolean;
  /** (address of buf[0]) % alignment; alignment is a power of two. */
  addressMod(buf: Uint8Array, alignment: number): number;

  /** fcntl(F_SETFL) O_DIRECT on or off; EINVAL when the filesystem refuses direct I/O. */
  setDirect(fd: number, enable: boolean): void;
  punchHole(fd: number, offset: number, length: number): void;
  zeroRange(fd: number, offset: number, length: number): void;
  reflink(srcFd: number, dstFd: number): void;
  blockDeviceSize(fd: number): number;
  blockDevicePbs(fd: number): number;
  blkDiscard(fd: number, offset: number, length: number): void;
  walbVersion(fd: number): number;
  ioctlWalbCtl(fd: number, request: number, ctl: Uint8Array, u2kBuf?: Uint8Array | null, k2uBuf?: Uint8Array | null): number;
  /** pwrite/pread of many (bufferOffset, fileOffset, length) triples; returns the bytes moved. */
  pwriteBatch(fd: number, buf: Uint8Array, plan: Float64Array, count: number): number;
  preadBatch(fd: number, buf: Uint8Array, plan: Float64Array, count: number): number;
  /** Writes buffers[i] at positions[i] on the thread pool; callback(err, bytes). */
  writeManyAsync(fd: number, buffers: Uint8Array[], positions: Float64Array, count: number, callback: (err: Error | null, bytes: number) => void): void;
  startWritebackAsync?(fd: number, ranges: Float64Array, count: number, callback: (err: Error | null) => void): void;

  // Present only when the library was found at build time (info().codecs).
  snappyMaxCompressedLength?(n: number): number;
  snappyCompress?(src: Uint8Array, dst: Uint8Array): number;
  snappyUncompress?(src: Uint8Array, dst: Uint8Array): number;
  lz4MaxCompressedLength?(n: number): number;
  lz4Compress?(src: Uint8Array, dst: Uint8Array): number;
  lz4Uncompress?(src: Uint8Array, dst: Uint8Array): number;
  zstdMaxCompressedLength?(n: number): number;
  zstdCompress?(src: Uint8Array, dst: Uint8Array, level: number): number;
  zstdUncompress?(src: Uint8Array, dst: Uint8Array): number;
  lzmaMaxCompressedLength?(n: number): number;
  lzmaCompress?(src: Uint8Array, dst: Uint8Array, preset: number): number;
  lzmaUncompress?(src: Uint8Array, dst: Uint8Array): number;
}

/** Relative to src/ and dist/ alike: both sit one level below the package root. */
export const ADDON_RELATIVE_PATH = '../build/Release/blockwal_native.node';

export interface LoadResult {
  binding: NativeBinding | null;
  /** Why the addon is not used (absent when it is). */
  reason?: string;
  path: string;
  build?: NativeBuildInfo;
}

function load(): LoadResult {
  const req = createRequire(import.meta.url);
  let path = ADDON_RELATIVE_PATH;
  try {
    path = req.resolve(ADDON_RELATIVE_PATH);
  } catch {
    // not built: reported below by the require itself
  }
  if (process.env['BLOCKWAL_NATIVE'] === '0') return { binding: null, reason: 'disabled by BLOCKWAL_NATIVE=0', path };
  try {
    const binding = req(ADDON_RELATIVE_PATH) as NativeBinding;
    const build = binding.info();
    return { binding, path, build };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const reason =
      err?.code === 'MODULE_NOT_FOUND'
        ? 'addon not built (run `node packages/native-io/scripts/build.mjs`)'
        : `addon failed to load: ${String(err?.message ?? e).split('\n')[0]}`;
    return { binding: null, reason, path };
  }
}

export const loaded: LoadResult = load();
/** The addon, or null when running on the JS fallbacks. */
export const native: NativeBinding | null = loaded.binding;

/** A Node-style system error: `code` is the errno name (EINVAL...), `errno` is negative as in Node. */
export interface NativeSystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

/**
 * THE conversion of native errors. errno errors become Node-style errors (`code` = errno name,
 * `errno` negative, `syscall`, optional `path`, message "ENOTTY: inappropriate ioctl for device,
 * ioctl 'what'"); codec and argument errors keep their `code` and get the context appended.
 */
export function nativeError(e: unknown, context?: { path?: string; op?: string }): Error {
  if (!(e instanceof Error)) return new Error(String(e));
  const raw = e as Error & { errno?: unknown; syscall?: unknown; code?: unknown };
  if (typeof raw.errno === 'number' && raw.errno > 0 && typeof raw.syscall === 'string') {
    let code: string;
    try {
      code = getSystemErrorName(-raw.errno);
    } catch {
      code = `E${raw.errno}`;
    }
    const text = raw.message ? raw.message.charAt(0).toLowerCase() + raw.message.slice(1) : 'unknown error';
    const what = context?.op ? ` (${context.op})` : '';
    const where = context?.path !== undefined ? ` '${context.path}'` : '';
    const err = new Error(`${code}: ${text}, ${raw.syscall}${where}${what}`) as NativeSystemError;
    err.code = code;
    err.errno = -raw.errno;
    err.syscall = raw.syscall;
    if (context?.path !== undefined) err.path = context.path;
    return err;
  }
  if (context?.op) e.message = `${context.op}: ${e.message}`;
  return e;
}

/** A Node-style error for an operation the JS fallback cannot do (code ENOSYS). */
export function notSupportedError(syscall: string, why: string): NativeSystemError {
  const err = new Error(`ENOSYS: function not implemented, ${syscall} (${why})`) as NativeSystemError;
  err.code = 'ENOSYS';
  err.errno = -(osConstants.errno.ENOSYS ?? 38);
  err.syscall = syscall;
  return err;
}
