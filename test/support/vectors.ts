/** Access to the walb-tools test vectors copied into test/fixtures/vectors. */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VECTORS_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'vectors');

export function vectorPath(caseName: string, file: string): string {
  return path.join(VECTORS_DIR, caseName, file);
}

export interface VectorFile {
  path: string;
  kind: string;
  size: number;
  sha256: string;
  commands: string[];
  applied?: {
    image_sha256_discard_zero: string;
    image_sha256_discard_ignored?: string;
    tool_failed?: boolean;
  };
  [k: string]: unknown;
}

export interface VectorManifest {
  case: string;
  description: string;
  devsize: number | null;
  files: VectorFile[];
  corrupted?: Array<{
    path: string;
    derived_from: string;
    corruption: string;
    what: string;
    expected_reader_behaviour: string;
    tool_results: unknown;
  }>;
  [k: string]: unknown;
}

export function manifest(caseName: string): VectorManifest {
  return JSON.parse(readFileSync(vectorPath(caseName, 'MANIFEST.json'), 'utf8')) as VectorManifest;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export const VECTOR_CASES = [
  'wlog-pbs512-all-kinds',
  'wlog-pbs512-rand-plain',
  'wlog-pbs4096-all-kinds',
  'wlog-pbs4096-rand-plain',
  'ldev-pbs512-ringwrap',
  'ldev-pbs4096-ringwrap',
  'wdiff-merge-cmpr',
  'wdiff-full-small',
  'corrupted',
] as const;
