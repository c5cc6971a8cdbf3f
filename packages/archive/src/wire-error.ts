/**
 * Errors across the worker-thread boundary. Structured clone keeps only an Error's message (and
 * the name of built-in classes), so a job's error is sent as plain fields and rebuilt on the
 * event-loop thread as the same BlockwalError subclass (code, message, where, reject reason), so
 * toServiceError answers exactly as if the job had run inline.
 */
import {
  BlockwalError,
  ChecksumMismatchError,
  CorruptDataError,
  FormatError,
  IoError,
  RejectedError,
  UnexpectedEofError,
  UnsupportedError,
  UsageError,
  type ErrorCode,
  type ErrorWhere,
  type RejectReason,
} from '@blockwal/core';

export interface WireError {
  readonly name: string;
  readonly message: string;
  /** BlockwalError fields. */
  readonly code?: ErrorCode;
  readonly what?: string;
  readonly where?: ErrorWhere;
  readonly reason?: RejectReason;
  /** errno code of the error itself (plain Node errors) or of an IoError's cause. */
  readonly errno?: string;
  readonly stack?: string;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof BlockwalError) {
    const cause = (e as { cause?: { code?: unknown } }).cause;
    return {
      name: e.name,
      message: e.message,
      code: e.code,
      what: e.what,
      where: { ...e.where },
      ...(e instanceof RejectedError ? { reason: e.reason } : {}),
      ...(typeof cause?.code === 'string' ? { errno: cause.code } : {}),
      ...(e.stack ? { stack: e.stack } : {}),
    };
  }
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return { name: e.name, message: e.message, ...(typeof code === 'string' ? { errno: code } : {}), ...(e.stack ? { stack: e.stack } : {}) };
  }
  return { name: 'Error', message: String(e) };
}

const FORMAT_ERRORS: Record<string, new (what: string, where: ErrorWhere) => FormatError> = {
  ChecksumMismatchError,
  UnexpectedEofError,
  CorruptDataError,
  UnsupportedError,
};

/** The error as the job threw it: the same class for blockwal's errors, else an Error with its errno code. */
export function fromWireError(w: WireError): Error {
  const where = w.where ?? {};
  const what = w.what ?? w.message;
  let e: Error;
  // By its reason, not its name: toWireError sets `reason` for RejectedError instances only, and a
  // bundler may rename the class (esbuild makes it `_RejectedError`, so the CLI's archive answered
  // 'internal' for every RejectedError of a worker job).
  if (w.reason !== undefined) e = new RejectedError(w.reason, what, where);
  else if (w.name in FORMAT_ERRORS) e = new FORMAT_ERRORS[w.name]!(what, where);
  else if (w.name === 'FormatError') e = new FormatError(what, where, w.code);
  else if (w.name === 'UsageError') e = new UsageError(what, where);
  else if (w.name === 'IoError') e = new IoError(what, where, w.errno !== undefined ? Object.assign(new Error(w.errno), { code: w.errno }) : undefined);
  else if (w.code !== undefined) e = new BlockwalError(w.code, what, where);
  else {
    e = new Error(w.message);
    if (w.errno !== undefined) (e as NodeJS.ErrnoException).code = w.errno;
  }
  if (w.stack) e.stack = `${e.name}: ${e.message}\n${w.stack.split('\n').slice(1).join('\n')}\n    (in an archive worker thread)`;
  return e;
}
