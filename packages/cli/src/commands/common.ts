/** Options shared by the format commands. */
import { DEFAULT_COMPRESSION, LOGICAL_BLOCK_SIZE, UsageError, parseCompressionSpec, type CompressionSpec, type DiscardMode } from '@blockwal/core';
import { parseSize } from '../args.js';

/** --max-io-size BYTES → lb (a multiple of 512; 0 = no limit). Default 1 MiB as in walb-tools. */
export function maxIoOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const bytes = parseSize(text, 'max io size');
  if (bytes % LOGICAL_BLOCK_SIZE !== 0) throw new UsageError(`invalid max io size ${text}: a multiple of 512 bytes (0 = no limit)`);
  return bytes / LOGICAL_BLOCK_SIZE;
}

export function compressionOption(text: string | undefined): CompressionSpec {
  return text === undefined ? DEFAULT_COMPRESSION : parseCompressionSpec(text);
}

export function discardOption(text: string | undefined): DiscardMode {
  if (text === undefined || text === 'zero') return 'zero';
  if (text === 'ignore') return 'ignore';
  throw new UsageError(`invalid --discard "${text}": zero or ignore`);
}
