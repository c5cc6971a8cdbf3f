/**
 * What an export's failure becomes on the wire: the one place that maps errors to NBD error
 * values (STYLE §6).
 */
import { NBD_EINVAL, NBD_EIO, NBD_ENOMEM, NBD_ENOSPC, NBD_ENOTSUP, NBD_EOVERFLOW, NBD_EPERM, NBD_ESHUTDOWN } from './export.js';

const VALID_ERRNOS = new Set([NBD_EPERM, NBD_EIO, NBD_ENOMEM, NBD_EINVAL, NBD_ENOSPC, NBD_EOVERFLOW, NBD_ENOTSUP, NBD_ESHUTDOWN]);

/**
 * The NBD error for anything an export throws: its `nbdErrno` when that is an NBD error value,
 * else a mapped Node error code (proto.md: EDQUOT and EFBIG become ENOSPC), else EIO.
 */
export function nbdErrnoOf(err: unknown): number {
  if (err !== null && typeof err === 'object') {
    const n = (err as { nbdErrno?: unknown }).nbdErrno;
    if (typeof n === 'number' && VALID_ERRNOS.has(n)) return n;
    switch ((err as { code?: unknown }).code) {
      case 'ENOSPC':
      case 'EDQUOT':
      case 'EFBIG':
        return NBD_ENOSPC;
      case 'EPERM':
      case 'EACCES':
      case 'EROFS':
        return NBD_EPERM;
      case 'ENOMEM':
        return NBD_ENOMEM;
      case 'EINVAL':
        return NBD_EINVAL;
      case 'ENOTSUP':
      case 'EOPNOTSUPP':
        return NBD_ENOTSUP;
      case 'ESHUTDOWN':
        return NBD_ESHUTDOWN;
    }
  }
  return NBD_EIO;
}
