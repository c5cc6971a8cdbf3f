/**
 * The one table between blockwal's errors and gRPC: reject reasons ↔ blockwal.v1.Reason, errors →
 * gRPC status (with the reason and error code in trailing metadata), and back to typed errors on
 * the client. grpc-js turns an error without a numeric code into UNKNOWN, so every handler error
 * goes through toServiceError.
 */
import * as grpc from '@grpc/grpc-js';
import { BlockwalError, RejectedError, reasonOf, type ErrorCode, type RejectReason } from '@blockwal/core';
import { blockwal } from '../generated/blockwal.js';

import Reason = blockwal.v1.Reason;

const TO_WIRE: Record<RejectReason, Reason> = {
  'too-old': Reason.REASON_TOO_OLD,
  'too-new': Reason.REASON_TOO_NEW,
  'different-uuid': Reason.REASON_DIFFERENT_UUID,
  overflow: Reason.REASON_OVERFLOW,
  'no-space': Reason.REASON_NO_SPACE,
  'not-found': Reason.REASON_NOT_FOUND,
  'bad-argument': Reason.REASON_BAD_ARGUMENT,
  checksum: Reason.REASON_CHECKSUM,
  syncing: Reason.REASON_SYNCING,
  stopped: Reason.REASON_STOPPED,
  busy: Reason.REASON_BUSY,
  internal: Reason.REASON_INTERNAL,
};

const FROM_WIRE = new Map<Reason, RejectReason>(Object.entries(TO_WIRE).map(([k, v]) => [v, k as RejectReason]));

export function reasonToWire(r: RejectReason): Reason {
  return TO_WIRE[r];
}

/** The domain reason of a wire reason; OK and unspecified give undefined. */
export function reasonFromWire(r: Reason | null | undefined): RejectReason | undefined {
  return r === null || r === undefined ? undefined : FROM_WIRE.get(r);
}

const STATUS_OF: Record<RejectReason, grpc.status> = {
  'too-old': grpc.status.ALREADY_EXISTS,
  'too-new': grpc.status.FAILED_PRECONDITION,
  'different-uuid': grpc.status.FAILED_PRECONDITION,
  overflow: grpc.status.DATA_LOSS,
  'no-space': grpc.status.RESOURCE_EXHAUSTED,
  'not-found': grpc.status.NOT_FOUND,
  'bad-argument': grpc.status.INVALID_ARGUMENT,
  checksum: grpc.status.DATA_LOSS,
  syncing: grpc.status.UNAVAILABLE,
  stopped: grpc.status.UNAVAILABLE,
  busy: grpc.status.ABORTED,
  internal: grpc.status.INTERNAL,
};

/**
 * Longest message of an error status: it travels (percent-encoded) in an HTTP/2 trailer, and a
 * trailer over the peer's header list limit (64 KiB) drops the connection instead of the status.
 */
const MAX_DETAILS = 2048;

const REASON_KEY = 'blockwal-reason';
const CODE_KEY = 'blockwal-code';

/** A gRPC error for any thrown value: the status from the reject reason, the reason in metadata. */
export function toServiceError(e: unknown): Partial<grpc.StatusObject> & Error {
  const reason = reasonOf(e);
  const metadata = new grpc.Metadata();
  metadata.set(REASON_KEY, reason);
  if (e instanceof BlockwalError) metadata.set(CODE_KEY, e.code);
  const full = e instanceof Error ? e.message : String(e);
  const message = full.length > MAX_DETAILS ? `${full.slice(0, MAX_DETAILS)}… (${full.length} characters)` : full;
  const err = new Error(message) as Error & Partial<grpc.StatusObject>;
  err.code = STATUS_OF[reason];
  err.details = message;
  err.metadata = metadata;
  return err;
}

/**
 * The typed error behind a failed call: a RejectedError with the server's reason, or, for a
 * transport failure (peer down, deadline), a RejectedError 'stopped' (retry elsewhere/later).
 */
export function fromServiceError(err: grpc.ServiceError | Error, peer?: string): RejectedError {
  const se = err as Partial<grpc.ServiceError>;
  const reason = se.metadata?.get(REASON_KEY)[0];
  const where = peer ? ` (${peer})` : '';
  if (typeof reason === 'string' && reason in STATUS_OF) {
    return new RejectedError(reason as RejectReason, `${se.details ?? err.message}${where}`);
  }
  const code = se.code;
  const transport = code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED || code === grpc.status.CANCELLED;
  const r: RejectReason = transport ? 'stopped' : code === grpc.status.UNIMPLEMENTED ? 'bad-argument' : code === grpc.status.RESOURCE_EXHAUSTED ? 'no-space' : 'internal';
  if (code === grpc.status.UNAVAILABLE && peer) return new RejectedError(r, `cannot reach ${peer}: ${se.details ?? err.message}`);
  return new RejectedError(r, `${se.details ?? err.message}${where}`);
}

/** Whether an error code names a BlockwalError code (for logs and exit codes on the client). */
export function errorCodeOf(err: grpc.ServiceError): ErrorCode | undefined {
  const c = err.metadata?.get(CODE_KEY)[0];
  return typeof c === 'string' ? (c as ErrorCode) : undefined;
}
