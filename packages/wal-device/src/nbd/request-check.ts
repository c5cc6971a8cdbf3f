/**
 * Validation of a transmission request before the export sees it: a pure decision returning the
 * NBD error to answer with, or 0 to go ahead. The rules follow proto.md ("Block size
 * constraints", "Error values", the request types):
 *
 * | condition                                              | error     |
 * |--------------------------------------------------------|-----------|
 * | unknown command                                        | EINVAL    |
 * | a command flag not valid for the command               | EINVAL    |
 * | FLUSH with nonzero offset or length                    | EINVAL    |
 * | WRITE / TRIM / WRITE_ZEROES on a read-only export      | EPERM     |
 * | READ / WRITE / WRITE_ZEROES longer than maxPayload     | EINVAL    |
 * | WRITE_ZEROES with FAST_ZERO                            | ENOTSUP   |
 * | offset or length not aligned                           | EINVAL    |
 * | WRITE / WRITE_ZEROES past the end of the export        | ENOSPC    |
 * | READ / TRIM / CACHE / BLOCK_STATUS past the end        | EINVAL    |
 * | BLOCK_STATUS without a selected metadata context       | EINVAL    |
 * | BLOCK_STATUS of length 0                               | EINVAL    |
 */
import { NBD_EINVAL, NBD_ENOSPC, NBD_ENOTSUP, NBD_EPERM } from './export.js';
import type { ExportLimits } from './limits.js';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
} from './protocol.js';

export interface RequestContext {
  limits: ExportLimits;
  readOnly: boolean;
  structured: boolean;
  /** Nonzero when base:allocation was selected for this export. */
  metaContextId: number;
}

/** Flags each command accepts (FUA is valid on every command once SEND_FUA is advertised). */
function allowedFlags(type: number, ctx: RequestContext): number {
  switch (type) {
    case NBD_CMD_READ: return NBD_CMD_FLAG_FUA | (ctx.structured ? NBD_CMD_FLAG_DF : 0);
    case NBD_CMD_WRITE:
    case NBD_CMD_FLUSH:
    case NBD_CMD_TRIM:
    case NBD_CMD_CACHE:
      return NBD_CMD_FLAG_FUA;
    case NBD_CMD_WRITE_ZEROES: return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
    case NBD_CMD_BLOCK_STATUS: return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
    default: return 0;
  }
}

/** Receives a short human-readable reason when a request is rejected (structured error replies). */
export interface Rejection {
  reason: string;
}

function reject(why: Rejection | undefined, errno: number, reason: string): number {
  if (why) why.reason = reason;
  return errno;
}

/**
 * 0 when the request may be executed, otherwise the NBD error to reply with (and `why.reason`
 * set). DISC is always accepted.
 */
export function checkRequest(ctx: RequestContext, type: number, flags: number, offset: number, length: number, why?: Rejection): number {
  const lim = ctx.limits;
  const end = offset + length;
  const badFlags = flags & ~allowedFlags(type, ctx);
  switch (type) {
    case NBD_CMD_READ:
    case NBD_CMD_CACHE:
      if (badFlags !== 0) return reject(why, NBD_EINVAL, `flags 0x${badFlags.toString(16)} not valid here`);
      if (length > lim.maxPayload) return reject(why, NBD_EINVAL, `length ${length} exceeds the maximum block size ${lim.maxPayload}`);
      if (offset % lim.readAlignment !== 0 || length % lim.readAlignment !== 0) return reject(why, NBD_EINVAL, `not aligned to ${lim.readAlignment} bytes`);
      if (end > lim.size) return reject(why, NBD_EINVAL, `range ${offset}+${length} beyond the export size ${lim.size}`);
      return 0;
    case NBD_CMD_WRITE:
    case NBD_CMD_WRITE_ZEROES:
      if (badFlags !== 0) return reject(why, NBD_EINVAL, `flags 0x${badFlags.toString(16)} not valid here`);
      if (ctx.readOnly) return reject(why, NBD_EPERM, 'the export is read-only');
      if ((flags & NBD_CMD_FLAG_FAST_ZERO) !== 0) return reject(why, NBD_ENOTSUP, 'fast zero is not supported');
      if (length > lim.maxPayload) return reject(why, NBD_EINVAL, `length ${length} exceeds the maximum block size ${lim.maxPayload}`);
      if (offset % lim.writeAlignment !== 0 || length % lim.writeAlignment !== 0) return reject(why, NBD_EINVAL, `not aligned to ${lim.writeAlignment} bytes`);
      if (end > lim.size) return reject(why, NBD_ENOSPC, `range ${offset}+${length} beyond the export size ${lim.size}`);
      return 0;
    case NBD_CMD_TRIM:
      if (badFlags !== 0) return reject(why, NBD_EINVAL, `flags 0x${badFlags.toString(16)} not valid here`);
      if (ctx.readOnly) return reject(why, NBD_EPERM, 'the export is read-only');
      if (offset % lim.writeAlignment !== 0 || length % lim.writeAlignment !== 0) return reject(why, NBD_EINVAL, `not aligned to ${lim.writeAlignment} bytes`);
      if (end > lim.size) return reject(why, NBD_EINVAL, `range ${offset}+${length} beyond the export size ${lim.size}`);
      return 0;
    case NBD_CMD_FLUSH:
      if (badFlags !== 0) return reject(why, NBD_EINVAL, `flags 0x${badFlags.toString(16)} not valid here`);
      if (offset !== 0 || length !== 0) return reject(why, NBD_EINVAL, 'flush offset and length must be zero');
      return 0;
    case NBD_CMD_BLOCK_STATUS:
      if (badFlags !== 0) return reject(why, NBD_EINVAL, `flags 0x${badFlags.toString(16)} not valid here`);
      if (ctx.metaContextId === 0) return reject(why, NBD_EINVAL, 'no metadata context was selected');
      if (length === 0) return reject(why, NBD_EINVAL, 'length 0');
      if (offset % lim.readAlignment !== 0 || length % lim.readAlignment !== 0) return reject(why, NBD_EINVAL, `not aligned to ${lim.readAlignment} bytes`);
      if (end > lim.size) return reject(why, NBD_EINVAL, `range ${offset}+${length} beyond the export size ${lim.size}`);
      return 0;
    case NBD_CMD_DISC:
      return 0;
    default:
      return reject(why, NBD_EINVAL, `unknown command ${type}`);
  }
}
