/**
 * Micro-benchmark of the codec and checksum hot paths, native vs fallback, printing one JSON record.
 *
 *   node --conditions=blockwal-source --import tsx bench/micro/codecs.ts [--ms 200]
 *
 * Codecs are measured through blockwal's own paths: RecordCompressor (compress, with the
 * "strictly smaller" limit: random data makes the native lz4/zstd give up early and is stored raw)
 * and decompressInto (decompress; random payloads are compressed with a full-size buffer first so
 * that there is something to decode). MB = 10^6 bytes of uncompressed data per second.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import {
  CompressionType,
  RecordCompressor,
  codecImplementations,
  compressionName,
  decompressInto,
  type CodecImplementation,
} from '@blockwal/core';
import { walbChecksum as dispatchChecksum, allocAligned, nativeInfo } from '@blockwal/native-io';
import * as nio from '@blockwal/native-io';
import { walbChecksum as jsChecksum } from '../../packages/native-io/src/checksum-js.js';

const MIN_MS = Number(process.argv[process.argv.indexOf('--ms') + 1] ?? 0) || 200;

/** Runs fn repeatedly for at least MIN_MS (after a warm-up) and returns calls per second. */
function rate(fn: () => void): number {
  const warm = performance.now();
  while (performance.now() - warm < MIN_MS / 4) fn();
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MIN_MS) {
    for (let i = 0; i < 8; i++) fn();
    calls += 8;
    t = performance.now();
  }
  return (calls * 1000) / (t - t0);
}

/**
 * Text-like data, as in the test vectors: lines "<8-digit byte offset> word word ..." from a
 * 24-word vocabulary (snappy ratio ~3, like the PERF-NOTES "text" case).
 */
function compressible(n: number): Buffer {
  const vocab = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega'.split(' ');
  let x = 0x9e3779b9;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    let line = String(len).padStart(8, '0');
    const words = 4 + (next() % 8);
    for (let i = 0; i < words; i++) line += ` ${vocab[next() % vocab.length]}`;
    line += '\n';
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

/** A payload of `type` for `data`, even when it is not smaller (to measure decoding of random data). */
function payload(type: CompressionType, data: Uint8Array): Uint8Array {
  const dst = Buffer.alloc(data.length * 2 + 1024);
  let n = 0;
  if (type === CompressionType.Snappy) n = nio.snappyCompress(data, dst);
  else if (type === CompressionType.Lz4) n = nio.lz4Compress(data, dst);
  else if (type === CompressionType.Zstd) n = nio.zstdCompress(data, dst, 1);
  return dst.subarray(0, n);
}

interface CodecResult {
  codec: string;
  implementation: CodecImplementation;
  op: 'compress' | 'decompress';
  data: 'random' | 'compressible';
  bytes: number;
  MBps: number;
  ratio?: number;
}

const SIZES = [4096, 65536, 1 << 20];
const results: CodecResult[] = [];
const info = nativeInfo();

for (const type of [CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd]) {
  const impls = codecImplementations(type);
  for (const size of SIZES) {
    for (const kind of ['random', 'compressible'] as const) {
      const data = kind === 'random' ? randomBytes(size) : compressible(size);
      const stored = info.codecs[compressionName(type) as 'snappy'] ? payload(type, data) : undefined;
      for (const impl of impls) {
        const c = new RecordCompressor({ type, level: 0 }, { implementation: impl });
        const out = c.compress(data);
        const ratio = out.type === CompressionType.None ? 1 : data.length / out.data.length;
        results.push({ codec: compressionName(type), implementation: impl, op: 'compress', data: kind, bytes: size, MBps: (rate(() => c.compress(data)) * size) / 1e6, ratio: Number(ratio.toFixed(2)) });
        if (stored) {
          const dst = Buffer.alloc(size);
          results.push({ codec: compressionName(type), implementation: impl, op: 'decompress', data: kind, bytes: size, MBps: (rate(() => decompressInto(type, stored, dst, { implementation: impl })) * size) / 1e6 });
        }
      }
    }
  }
}

interface ChecksumResult {
  implementation: 'native' | 'js';
  bytes: number;
  offset: number;
  GBps: number;
}
const checksum: ChecksumResult[] = [];
// walbChecksum goes native from NATIVE_MIN_BYTES (256) up: every size below is native when loaded.
const nativeCks = nio.nativeInfo().loaded ? (b: Uint8Array) => dispatchChecksum(b, 0) : undefined;
for (const size of [512, 4096, 1 << 20, 64 << 20]) {
  const buf = allocAligned(size + 8);
  buf.set(randomBytes(buf.length));
  for (const offset of [0, 1]) {
    const view = buf.subarray(offset, offset + size);
    if (nativeCks) checksum.push({ implementation: 'native', bytes: size, offset, GBps: (rate(() => nativeCks(view)) * size) / 1e9 });
    checksum.push({ implementation: 'js', bytes: size, offset, GBps: (rate(() => jsChecksum(view, 0)) * size) / 1e9 });
  }
}

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  // not a git checkout
}

const round = (r: { MBps?: number; GBps?: number }) => {
  if (r.MBps !== undefined) r.MBps = Math.round(r.MBps);
  if (r.GBps !== undefined) r.GBps = Number(r.GBps.toFixed(2));
  return r;
};

process.stdout.write(
  `${JSON.stringify(
    {
      bench: 'micro/codecs',
      commit,
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, platform: `${process.platform}-${process.arch}` },
      native: { loaded: info.loaded, reason: info.reason, codecs: info.codecs, codecVersions: info.codecVersions },
      minMsPerCase: MIN_MS,
      codecs: results.map(round),
      checksum: checksum.map(round),
    },
    null,
    1,
  )}\n`,
);
