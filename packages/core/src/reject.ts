/**
 * Why a server refused a request, and what the sender does about it. One table, used by every
 * hop: the storage agent pushing wlogs to proxies, proxies forwarding wdiffs to archives, the
 * agent seeding an archive, and admin clients. The wire form is blockwal.v1.Reason.
 */
import { BlockwalError, type ErrorWhere } from './errors.js';

export type RejectReason =
  | 'too-old' // the receiver already has everything this brings
  | 'too-new' // something before this is missing at the receiver
  | 'different-uuid' // another log lineage
  | 'overflow' // the device's log overflowed: continuity broken
  | 'no-space' // disk full or quota reached
  | 'not-found' // unknown volume (or snapshot)
  | 'bad-argument' // bad name, size, range or flag
  | 'checksum' // a chunk or a stream failed its checksum
  | 'syncing' // the volume is being seeded
  | 'stopped' // the receiver or the volume is stopping or stopped
  | 'busy' // another transfer of this volume is under way
  | 'internal'; // anything else on the receiver's side

/**
 * What a sender does with a refused item:
 *  - `delivered`: treat as delivered (the receiver has it or will never want it) and free it;
 *  - `retry`: keep it and retry later, with backoff;
 *  - `resend`: the bytes were damaged on the way; send again now;
 *  - `resync`: continuity is broken; a full or hash backup is needed;
 *  - `fail`: the request itself is wrong; report it and do not retry.
 */
export type RetryPolicy = 'delivered' | 'retry' | 'resend' | 'resync' | 'fail';

export const RETRY_POLICY: Readonly<Record<RejectReason, RetryPolicy>> = {
  'too-old': 'delivered',
  'too-new': 'retry',
  'different-uuid': 'delivered',
  overflow: 'resync',
  'no-space': 'retry',
  'not-found': 'retry',
  'bad-argument': 'fail',
  checksum: 'resend',
  syncing: 'retry',
  stopped: 'retry',
  busy: 'retry',
  internal: 'retry',
};

export const REJECT_REASONS = Object.keys(RETRY_POLICY) as RejectReason[];

/** A request refused for a protocol reason. */
export class RejectedError extends BlockwalError {
  readonly reason: RejectReason;

  constructor(reason: RejectReason, what: string, where: ErrorWhere = {}) {
    super('REJECTED', what, where, { retryable: RETRY_POLICY[reason] === 'retry' || RETRY_POLICY[reason] === 'resend' });
    this.reason = reason;
  }

  get policy(): RetryPolicy {
    return RETRY_POLICY[this.reason];
  }

  override at(where: ErrorWhere): this {
    const e = new RejectedError(this.reason, this.what, { ...this.where, ...where }) as this;
    return e;
  }
}

/** The reject reason an error stands for: a RejectedError's own, else by error class. */
export function reasonOf(e: unknown): RejectReason {
  if (e instanceof RejectedError) return e.reason;
  if (e instanceof BlockwalError) {
    switch (e.code) {
      case 'CHECKSUM_MISMATCH':
        return 'checksum';
      case 'BAD_FORMAT':
      case 'UNEXPECTED_EOF':
      case 'CORRUPT_DATA':
      case 'UNSUPPORTED':
      case 'INVALID_ARGUMENT':
        return 'bad-argument';
      case 'NOT_FOUND':
        return 'not-found';
      case 'IO_ERROR': {
        const errno = (e.cause as { code?: string } | undefined)?.code;
        return errno === 'ENOSPC' || errno === 'EDQUOT' ? 'no-space' : 'internal';
      }
      default:
        return 'internal';
    }
  }
  const errno = (e as { code?: unknown } | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') return 'no-space';
  return 'internal';
}
