/**
 * walbChecksum / isAllZero: native when the addon is loaded and the buffer is large enough to
 * amortize the ~100 ns N-API call, JS otherwise (the results are identical; tests check it).
 */
import * as js from './checksum-js.js';
import { native } from './native.js';

/** Below this many bytes the JS loop beats the native call (measured: crossover ~200 bytes). */
export const NATIVE_MIN_BYTES = 256;

const nativeChecksum = native?.walbChecksum;
const nativeIsAllZero = native?.isAllZero;

/**
 * The WalB checksum (walb-formats §1): salt plus the sum of the little-endian u32 words, a 1-3
 * byte tail zero-padded on the right, negated (two's complement). Any byteOffset. Not stream-safe.
 */
export function walbChecksum(buf: Uint8Array, salt = 0): number {
  if (nativeChecksum === undefined || buf.length < NATIVE_MIN_BYTES) return js.walbChecksum(buf, salt);
  return nativeChecksum(buf, salt);
}

/** True when every byte of buf is zero. */
export function isAllZero(buf: Uint8Array): boolean {
  if (nativeIsAllZero === undefined || buf.length < NATIVE_MIN_BYTES) return js.isAllZero(buf);
  return nativeIsAllZero(buf);
}
