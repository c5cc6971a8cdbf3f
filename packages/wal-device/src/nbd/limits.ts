/**
 * What the server advertises for an export and enforces during transmission, derived once per
 * connection from the NbdExport: transmission flags and the block size constraints.
 *
 * NBD has a single minimum block size for every command, while an NbdExport may require writes
 * aligned more strictly (`writeAlignment`) than reads (`minBlockSize`). A client that honours the
 * advertised minimum must never see an alignment error, so the advertised minimum is the larger
 * of the two; reads aligned to `minBlockSize` only are still served.
 */
import type { NbdExport } from './export.js';
import {
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_DF,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
} from './protocol.js';

/** The protocol's ceiling on the minimum block size. */
const MAX_MIN_BLOCK = 65536;
const U32_MAX = 0xffffffff;

export interface ExportLimits {
  size: number;
  /** Alignment required of reads, block status and cache (the export's minBlockSize). */
  readAlignment: number;
  /** Alignment required of write, trim and write zeroes; also the advertised minimum block size. */
  writeAlignment: number;
  preferredBlockSize: number;
  /** Largest READ / WRITE / WRITE_ZEROES length; the advertised maximum block size. */
  maxPayload: number;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Effective limits; throws a RangeError when the export's fields cannot be advertised. */
export function exportLimits(exp: NbdExport): ExportLimits {
  const readAlignment = exp.minBlockSize;
  const writeAlignment = Math.max(exp.minBlockSize, exp.writeAlignment);
  if (!isPowerOfTwo(readAlignment) || !isPowerOfTwo(writeAlignment) || writeAlignment > MAX_MIN_BLOCK) {
    throw new RangeError(`export ${exp.name}: block sizes must be powers of two up to 64 KiB (minBlockSize ${exp.minBlockSize}, writeAlignment ${exp.writeAlignment})`);
  }
  let preferred = Math.max(exp.preferredBlockSize, writeAlignment, 512);
  if (!isPowerOfTwo(preferred)) throw new RangeError(`export ${exp.name}: preferredBlockSize ${exp.preferredBlockSize} is not a power of two`);
  if (preferred > 1 << 30) preferred = 1 << 30;
  const maxPayload = Math.floor(Math.min(exp.maxPayload, U32_MAX) / writeAlignment) * writeAlignment;
  if (!(maxPayload >= Math.min(preferred, exp.size)) || maxPayload <= 0) {
    throw new RangeError(`export ${exp.name}: maxPayload ${exp.maxPayload} is below the preferred block size ${preferred}`);
  }
  if (!Number.isSafeInteger(exp.size) || exp.size < 0 || exp.size % writeAlignment !== 0) {
    throw new RangeError(`export ${exp.name}: size ${exp.size} is not a multiple of ${writeAlignment}`);
  }
  return { size: exp.size, readAlignment, writeAlignment, preferredBlockSize: preferred, maxPayload };
}

/**
 * Transmission flags for an export. Write-related features are not advertised on read-only
 * exports (writes there still get EPERM); SEND_DF only once structured replies are negotiated
 * (every read reply is a single chunk anyway); FAST_ZERO is advertised and always answered
 * with ENOTSUP, which the specification allows and lets copy tools fall back quickly.
 */
export function transmissionFlags(exp: NbdExport, structured: boolean): number {
  let f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH;
  if (exp.readOnly) f |= NBD_FLAG_READ_ONLY;
  else f |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
  if (exp.multiConn) f |= NBD_FLAG_CAN_MULTI_CONN;
  if (structured) f |= NBD_FLAG_SEND_DF;
  return f;
}
