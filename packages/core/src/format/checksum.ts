/**
 * The WalB checksum (walb-formats §1): negated little-endian u32 word sum seeded with a salt,
 * tail bytes zero-padded. Self-checksummed blocks verify to 0. Not stream-safe: always
 * checksum a whole buffer. The native implementation is used when the addon is loaded.
 */
import { walbChecksum } from '@blockwal/native-io';

export { walbChecksum };

/** Stores the self-checksum of `block` in its u32 field at `fieldOffset` (zeroed first). */
export function sealBlock(block: Uint8Array, fieldOffset: number, salt = 0): number {
  block[fieldOffset] = 0;
  block[fieldOffset + 1] = 0;
  block[fieldOffset + 2] = 0;
  block[fieldOffset + 3] = 0;
  const c = walbChecksum(block, salt);
  block[fieldOffset] = c & 0xff;
  block[fieldOffset + 1] = (c >>> 8) & 0xff;
  block[fieldOffset + 2] = (c >>> 16) & 0xff;
  block[fieldOffset + 3] = (c >>> 24) & 0xff;
  return c;
}

/** True when a self-checksummed block verifies (its checksum over the whole block is 0). */
export function blockVerifies(block: Uint8Array, salt = 0): boolean {
  return walbChecksum(block, salt) === 0;
}
