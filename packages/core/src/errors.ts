/**
 * Typed errors of blockwal. Every error carries a stable `code`, whether a retry can help
 * (`retryable`), and where it happened (file, byte offset, lsid, pack/record index, volume, gid).
 * Messages are one line: where, then what.
 *
 * Exit codes of the command line map from these classes in one place (cli/src/exit.ts):
 * UsageError → 1, FormatError → 2, anything else → 3.
 */

export type ErrorCode =
  | 'BAD_FORMAT' // a structure is invalid (bad magic, bad field, bad size)
  | 'CHECKSUM_MISMATCH' // stored and computed checksums differ
  | 'UNEXPECTED_EOF' // the data ends inside a structure
  | 'CORRUPT_DATA' // a compressed payload does not decode, or decodes to the wrong size
  | 'UNSUPPORTED' // valid WalB data that blockwal does not handle (e.g. lsid beyond 2^53)
  | 'INVALID_ARGUMENT' // a caller passed a bad value
  | 'IO_ERROR' // the operating system refused (disk full, permission, missing file)
  | 'NOT_FOUND'
  | 'REJECTED'; // a peer refused a request for a reason of the protocol (see reject.ts)

/** Where in the data an error was found; every field is optional. */
export interface ErrorWhere {
  file?: string;
  offset?: number;
  lsid?: number;
  pack?: number;
  record?: number;
  address?: number;
  volume?: string;
  gid?: number;
}

export function describeWhere(w: ErrorWhere): string {
  const parts: string[] = [];
  if (w.volume !== undefined) parts.push(`volume ${w.volume}`);
  if (w.gid !== undefined) parts.push(`gid ${w.gid}`);
  if (w.lsid !== undefined) parts.push(`lsid ${w.lsid}`);
  if (w.pack !== undefined) parts.push(`pack ${w.pack}`);
  if (w.record !== undefined) parts.push(`record ${w.record}`);
  if (w.address !== undefined) parts.push(`address ${w.address}`);
  if (w.offset !== undefined) parts.push(`byte ${w.offset}`);
  const at = parts.join(', ');
  if (w.file !== undefined) return at ? `${w.file} (${at})` : w.file;
  return at;
}

export class BlockwalError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly where: ErrorWhere;
  /** The message without the location prefix. */
  readonly what: string;

  constructor(code: ErrorCode, what: string, where: ErrorWhere = {}, options?: { retryable?: boolean; cause?: unknown }) {
    const loc = describeWhere(where);
    super(loc ? `${loc}: ${what}` : what, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.what = what;
    this.where = { ...where };
    this.retryable = options?.retryable ?? false;
  }

  /** A copy of this error with more location fields (later values win). */
  at(where: ErrorWhere): this {
    const Ctor = this.constructor as new (what: string, where: ErrorWhere) => this;
    const e = new Ctor(this.what, { ...this.where, ...where });
    if (this.stack) e.stack = `${e.name}: ${e.message}\n${this.stack.split('\n').slice(1).join('\n')}`;
    return e;
  }
}

/** Bad data: the input is not what its format says. Never retryable; exit code 2. */
export class FormatError extends BlockwalError {
  constructor(what: string, where: ErrorWhere = {}, code: ErrorCode = 'BAD_FORMAT') {
    super(code, what, where);
  }
}

export class ChecksumMismatchError extends FormatError {
  constructor(what: string, where: ErrorWhere = {}) {
    super(what, where, 'CHECKSUM_MISMATCH');
  }
}

export class UnexpectedEofError extends FormatError {
  constructor(what: string, where: ErrorWhere = {}) {
    super(what, where, 'UNEXPECTED_EOF');
  }
}

export class CorruptDataError extends FormatError {
  constructor(what: string, where: ErrorWhere = {}) {
    super(what, where, 'CORRUPT_DATA');
  }
}

export class UnsupportedError extends FormatError {
  constructor(what: string, where: ErrorWhere = {}) {
    super(what, where, 'UNSUPPORTED');
  }
}

/** A caller (or a command-line user) gave a bad value. Exit code 1. */
export class UsageError extends BlockwalError {
  constructor(what: string, where: ErrorWhere = {}) {
    super('INVALID_ARGUMENT', what, where);
  }
}

/** The operating system refused an operation; wraps the errno error as `cause`. */
export class IoError extends BlockwalError {
  constructor(what: string, where: ErrorWhere = {}, cause?: unknown) {
    super('IO_ERROR', what, where, { cause, retryable: isTransientErrno(cause) });
  }
}

function isTransientErrno(e: unknown): boolean {
  const code = (e as { code?: string } | undefined)?.code;
  return code === 'EAGAIN' || code === 'EINTR' || code === 'EBUSY';
}

/** Converts a Node fs error into an IoError naming the file and the operation. */
export function ioError(op: string, file: string | undefined, e: unknown): IoError {
  if (e instanceof IoError) return e;
  const err = e as NodeJS.ErrnoException;
  const reason = err?.code ? `${err.code} (${err.message.replace(/^[A-Z]+: /, '').replace(/, .*$/, '')})` : String(e);
  return new IoError(`${op} failed: ${reason}`, file !== undefined ? { file } : {}, e);
}
