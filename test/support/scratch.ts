/** Scratch directories and zero images for tests. */
import { mkdtempSync, rmSync, writeFileSync, readFileSync, truncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';

export function scratchDir(prefix = 'blockwal-test-'): { dir: string; file(name: string): string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    file: (name: string) => path.join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Creates an all-zero (sparse) image file of `size` bytes. */
export function zeroImage(file: string, size: number): string {
  writeFileSync(file, '');
  truncateSync(file, size);
  return file;
}

export function fileSha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
