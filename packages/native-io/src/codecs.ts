/**
 * Native codecs: the system's libsnappy, liblz4, libzstd and liblzma, when they were found at build
 * time (`nativeInfo().codecs`). Each call writes into caller-provided buffers and allocates
 * nothing (the hot path of wdiff writing and reading). Without the library a call throws an error
 * with `code: 'ERR_BLOCKWAL_NO_NATIVE_CODEC'`: check `nativeCodecs` first.
 *
 * Contract (all codecs):
 *  - `xxxCompress(src, dst)` returns the bytes written to dst. lz4/zstd/lzma return 0 when the
 *    result does not fit in dst (so a dst of src.length − 1 bytes asks "strictly smaller?");
 *    snappy requires dst.length ≥ snappyMaxCompressedLength(src.length) (RangeError otherwise).
 *  - `xxxUncompress(src, dst)` must produce exactly dst.length bytes: a corrupt payload, or one that
 *    decodes to any other size, throws `code: 'ERR_BLOCKWAL_CODEC'` (never crashes). Returns dst.length.
 *
 * Encodings (walb-formats §6.1): snappy raw block; lz4 raw block (LZ4_compress_default, no size
 * prefix, no frame); zstd frame (ZSTD_compressCCtx, one context per thread, reused); lzma = .xz
 * container with CRC64 (lzma_easy_buffer_encode; the decoder accepts up to 256 MiB of dictionary
 * memory, unlike walb-tools' 16 MiB).
 */
import { native, nativeError } from './native.js';

export interface NativeCodecs {
  snappy: boolean;
  lz4: boolean;
  zstd: boolean;
  lzma: boolean;
}

/** Which codecs the loaded addon has (all false without the addon). */
export const nativeCodecs: Readonly<NativeCodecs> = Object.freeze({
  snappy: typeof native?.snappyCompress === 'function',
  lz4: typeof native?.lz4Compress === 'function',
  zstd: typeof native?.zstdCompress === 'function',
  lzma: typeof native?.lzmaCompress === 'function',
});

function unavailable(codec: string): Error {
  const err = new Error(`${codec}: the native ${codec} codec is not available (${native === null ? 'addon not loaded' : 'library not found at build time'})`) as NodeJS.ErrnoException;
  err.code = 'ERR_BLOCKWAL_NO_NATIVE_CODEC';
  return err;
}

function checkLength(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`length must be a non-negative integer, got ${n}`);
}

// Bound the functions once: calls on the hot path go straight to the addon.
const nSnappyCompress = native?.snappyCompress;
const nSnappyUncompress = native?.snappyUncompress;
const nLz4Compress = native?.lz4Compress;
const nLz4Uncompress = native?.lz4Uncompress;
const nZstdCompress = native?.zstdCompress;
const nZstdUncompress = native?.zstdUncompress;
const nLzmaCompress = native?.lzmaCompress;
const nLzmaUncompress = native?.lzmaUncompress;
const nLzmaBound = native?.lzmaMaxCompressedLength;

/** Worst-case snappy output size: 32 + n + n/6 (same formula as the library). */
export function snappyMaxCompressedLength(n: number): number {
  checkLength(n);
  return 32 + n + Math.floor(n / 6);
}

export function snappyCompress(src: Uint8Array, dst: Uint8Array): number {
  if (nSnappyCompress === undefined) throw unavailable('snappy');
  try {
    return nSnappyCompress(src, dst);
  } catch (e) {
    throw nativeError(e);
  }
}

export function snappyUncompress(src: Uint8Array, dst: Uint8Array): number {
  if (nSnappyUncompress === undefined) throw unavailable('snappy');
  try {
    return nSnappyUncompress(src, dst);
  } catch (e) {
    throw nativeError(e);
  }
}

/** LZ4_COMPRESSBOUND(n) = n + n/255 + 16. */
export function lz4MaxCompressedLength(n: number): number {
  checkLength(n);
  return n + Math.floor(n / 255) + 16;
}

export function lz4Compress(src: Uint8Array, dst: Uint8Array): number {
  if (nLz4Compress === undefined) throw unavailable('lz4');
  try {
    return nLz4Compress(src, dst);
  } catch (e) {
    throw nativeError(e);
  }
}

export function lz4Uncompress(src: Uint8Array, dst: Uint8Array): number {
  if (nLz4Uncompress === undefined) throw unavailable('lz4');
  try {
    return nLz4Uncompress(src, dst);
  } catch (e) {
    throw nativeError(e);
  }
}

/** ZSTD_COMPRESSBOUND(n). */
export function zstdMaxCompressedLength(n: number): number {
  checkLength(n);
  const small = n < 128 * 1024 ? (128 * 1024 - n) >>> 11 : 0;
  return n + Math.floor(n / 256) + small;
}

/** `level` is passed to ZSTD_compressCCtx as is (0 = the library default, 3). */
export function zstdCompress(src: Uint8Array, dst: Uint8Array, level: number): number {
  if (nZstdCompress === undefined) throw unavailable('zstd');
  try {
    return nZstdCompress(src, dst, level);
  } catch (e) {
    throw nativeError(e);
  }
}

export function zstdUncompress(src: Uint8Array, dst: Uint8Array): number {
  if (nZstdUncompress === undefined) throw unavailable('zstd');
  try {
    return nZstdUncompress(src, dst);
  } catch (e) {
    throw nativeError(e);
  }
}

/** lzma_stream_buffer_bound(n) with the addon; a safe over-estimate without it. */
export function lzmaMaxCompressedLength(n: number): number {
  checkLength(n);
  if (nLzmaBound !== undefined) return nLzmaBound(n);
  // LZMA2 stores incompressible data in ≤ 64 KiB chunks with 3 header bytes; plus the .xz
  // stream header, block header, check, index and footer (well under 2 KiB).
  return n + 3 * Math.ceil(n / 65536) + 2048;
}

/** xz preset 0..9 (walb-tools passes its level as the preset; its level 0 means preset 6). */
export function lzmaCompress(src: Uint8Array, dst: Uint8Array, preset: number): number {
  if (nLzmaCompress === undefined) throw unavailable('lzma');
  try {
    return nLzmaCompress(src, dst, preset);
  } catch (e) {
    throw nativeError(e);
  }
}

export function lzmaUncompress(src: Uint8Array, dst: Uint8Array): number {
  if (nLzmaUncompress === undefined) throw unavailable('lzma');
  try {
    return nLzmaUncompress(src, dst);
  } catch (e) {
    throw nativeError(e);
  }
}
