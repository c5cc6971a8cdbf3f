/** Writing to stdout synchronously (tools may print a lot; keep it ordered and flushed). */
import { writeSync } from 'node:fs';

export function out(line: string): void {
  writeSync(1, line + '\n');
}

export function json(value: unknown): void {
  out(JSON.stringify(value));
}

export function warn(line: string): void {
  writeSync(2, `blockwal: warning: ${line}\n`);
}

/** A u32 as 8 lower-case hex digits. */
export function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}
