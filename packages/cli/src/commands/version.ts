/** blockwal version [--json]: versions, and which native paths (checksum, codecs, O_DIRECT) are in use. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as nativeIo from '@blockwal/native-io';
import { codecImplementation, CompressionType, compressionName } from '@blockwal/core';
import { flag, parse } from '../args.js';
import { json, out } from '../output.js';

export const usage = 'blockwal version [--json]';

export function run(argv: string[]): number {
  const p = parse(argv, { json: { type: 'boolean' } }, usage);
  const pkg = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('@blockwal/cli/package.json'), 'utf8')) as { version: string };
  const info = nativeIo.nativeInfo();
  const codecs: Record<string, string> = {};
  for (const t of [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lzma, CompressionType.Lz4, CompressionType.Zstd]) {
    codecs[compressionName(t)] = codecImplementation(t);
  }
  const v = { blockwal: pkg.version, node: process.version, platform: `${process.platform}-${process.arch}`, native: info, codecs };
  if (flag(p, 'json')) json(v);
  else {
    out(`blockwal ${v.blockwal} (node ${v.node}, ${v.platform})`);
    out(`native-io: ${info.loaded ? 'native addon loaded' : `pure-JS fallback (${info.reason ?? 'addon not built'})`}`);
    out(`codecs: ${Object.entries(codecs).map(([k, i]) => `${k}=${i}`).join(' ')}`);
  }
  return 0;
}
