/**
 * The one place where errors become exit codes and messages:
 * 0 success; 1 usage error (bad arguments); 2 bad data (the input is not valid: the message names
 * the file, the byte offset or lsid/record, and what is wrong); 3 any other failure (the operating
 * system refused: missing file, permission, disk full…); 4 a verification failed (`demo` found a
 * restore that differs); 70 an internal error (a bug).
 */
import { BlockwalError, FormatError, UsageError } from '@blockwal/core';

export const EXIT_OK = 0;
export const EXIT_USAGE = 1;
export const EXIT_BAD_DATA = 2;
export const EXIT_FAILURE = 3;
export const EXIT_VERIFY_FAILED = 4;
export const EXIT_INTERNAL = 70;

export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return EXIT_USAGE;
  if (e instanceof FormatError) return EXIT_BAD_DATA;
  if (e instanceof BlockwalError) return EXIT_FAILURE;
  return EXIT_INTERNAL;
}

/** One line for stderr. Internal errors keep their stack for a bug report. */
export function describeError(e: unknown): string {
  if (e instanceof BlockwalError) return e.message;
  if (e instanceof Error) return `internal error: ${e.stack ?? e.message}`;
  return `internal error: ${String(e)}`;
}
