/**
 * The WalB checksum in plain JS (the fallback of the native one).
 *
 * sum := salt; add every little-endian u32 word; a 1-3 byte tail is zero-padded on the right
 * and added as one more word; the result is the two's-complement negation of the sum.
 * Self-checksummed blocks therefore verify to 0 over the whole block.
 */
export function walbChecksum(buf: Uint8Array, salt = 0): number {
  let sum = salt >>> 0;
  const len = buf.length;
  const whole = len & ~3;
  if ((buf.byteOffset & 3) === 0 && len >= 128) {
    // A Uint32Array view costs ~100 ns to create: only worth it beyond a few dozen words.
    const words = new Uint32Array(buf.buffer, buf.byteOffset, whole >>> 2);
    for (let i = 0; i < words.length; i++) sum = (sum + words[i]!) >>> 0;
  } else {
    for (let i = 0; i < whole; i += 4) {
      sum = (sum + (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    }
  }
  if (len > whole) {
    let w = 0;
    for (let j = 0; whole + j < len; j++) w |= buf[whole + j]! << (8 * j);
    sum = (sum + (w >>> 0)) >>> 0;
  }
  return (0 - sum) >>> 0;
}

/** True when every byte of buf is zero. */
export function isAllZero(buf: Uint8Array): boolean {
  const len = buf.length;
  let i = 0;
  if ((buf.byteOffset & 7) === 0 && len >= 64) {
    const words = new Float64Array(buf.buffer, buf.byteOffset, len >>> 3);
    // A zero double is +0 or -0; -0 has the sign bit set, so compare bit patterns via ===0 and 1/x.
    for (let k = 0; k < words.length; k++) {
      const w = words[k]!;
      if (w !== 0 || 1 / w < 0) return false;
    }
    i = words.length << 3;
  }
  for (; i < len; i++) if (buf[i] !== 0) return false;
  return true;
}
