/**
 * The codec registry of wdiff record data (walb-formats §6.1).
 *
 * | id | name   | stored bytes                                   | level 0 means      |
 * |----|--------|------------------------------------------------|--------------------|
 * | 0  | none   | raw                                            | —                  |
 * | 1  | gzip   | a zlib (RFC 1950) stream, not gzip             | zlib default (6)   |
 * | 2  | snappy | raw snappy block                               | (no levels)        |
 * | 3  | lzma   | .xz container, CRC64 check                     | xz preset 6        |
 * | 4  | lz4    | raw LZ4 block, no frame, no size prefix        | (no levels)        |
 * | 5  | zstd   | zstd frame                                     | 1 (as walb-tools)  |
 *
 * Levels 0..9 are accepted for every type (walb-tools refuses more); lzma levels 7..9 are refused
 * because walb-tools' xz decoder has a 16 MiB memory limit and cannot read such records (this
 * module reads them). Each type has up to two implementations: `native` (@blockwal/native-io,
 * the system libraries, into caller buffers) and a fallback (`npm` packages, `node:zlib` for
 * gzip); the native one is preferred. Compression is synchronous everywhere (the wdiff writers
 * and readers are). Never put gzip or lzma on a hot path: that is the caller's choice.
 */
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import * as nio from '@blockwal/native-io';
import { CorruptDataError, UnsupportedError, UsageError } from '../errors.js';
import { COMPRESSION_TYPE_COUNT, CompressionType } from './constants.js';
import { literalBuffer } from '../io/buffers.js';

export interface CompressionSpec {
  type: CompressionType;
  /** 0..9; 0 = the library default (see the table above). */
  level: number;
}

/** snappy, level 0: the default of every walb-tools tool and daemon. */
export const DEFAULT_COMPRESSION: Readonly<CompressionSpec> = Object.freeze({ type: CompressionType.Snappy, level: 0 });

export const MAX_COMPRESSION_LEVEL = 9;
/** Highest lzma level the original tools can decode (presets 7..9 need > 16 MiB to decode). */
export const MAX_WALB_TOOLS_LZMA_LEVEL = 6;

const NAMES: readonly string[] = ['none', 'gzip', 'snappy', 'lzma', 'lz4', 'zstd'];

/** The CLI name of a compression id ("gzip" for 1...); `unknown(N)` for ids outside 0..5. */
export function compressionName(type: CompressionType): string {
  return NAMES[type] ?? `unknown(${type as number})`;
}

/** The compression id of a CLI name (case-insensitive); throws UsageError. */
export function parseCompressionType(name: string): CompressionType {
  const i = NAMES.indexOf(name.trim().toLowerCase());
  if (i < 0) throw new UsageError(`unknown compression type "${name}" (expected one of: ${NAMES.join(', ')})`);
  return i as CompressionType;
}

/** Throws UsageError when spec is not something a wdiff writer may use. */
export function checkCompressionSpec(spec: CompressionSpec): void {
  if (!Number.isInteger(spec.type) || spec.type < 0 || spec.type >= COMPRESSION_TYPE_COUNT) {
    throw new UsageError(`unknown compression type ${String(spec.type)}`);
  }
  const name = compressionName(spec.type);
  if (!Number.isInteger(spec.level) || spec.level < 0 || spec.level > MAX_COMPRESSION_LEVEL) {
    throw new UsageError(`compression level ${String(spec.level)} of ${name} is out of range 0..${MAX_COMPRESSION_LEVEL}`);
  }
  if (spec.type === CompressionType.Lzma && spec.level > MAX_WALB_TOOLS_LZMA_LEVEL) {
    throw new UsageError(
      `lzma level ${spec.level} refused: the original walb-tools cannot read such files (their xz decoder has a 16 MiB memory limit); use 0..${MAX_WALB_TOOLS_LZMA_LEVEL}`,
    );
  }
}

/**
 * Parses "none" | "gzip" | "snappy" | "lzma" | "lz4" | "zstd", optionally followed by ":LEVEL"
 * (0..9). Throws UsageError naming the bad part.
 */
export function parseCompressionSpec(text: string): CompressionSpec {
  const parts = text.trim().split(':');
  if (parts.length > 2) throw new UsageError(`compression "${text}": unexpected ":${parts.slice(2).join(':')}" (expected TYPE or TYPE:LEVEL)`);
  const type = parseCompressionType(parts[0]!);
  let level = 0;
  if (parts.length === 2) {
    const l = parts[1]!.trim();
    if (!/^\d{1,2}$/.test(l)) throw new UsageError(`compression "${text}": level "${l}" is not an integer 0..${MAX_COMPRESSION_LEVEL}`);
    level = Number(l);
  }
  const spec = { type, level };
  checkCompressionSpec(spec);
  return spec;
}

/** Formats a spec the way parseCompressionSpec reads it ("zstd:3", "snappy"). */
export function formatCompressionSpec(spec: CompressionSpec): string {
  return spec.level === 0 ? compressionName(spec.type) : `${compressionName(spec.type)}:${spec.level}`;
}

// ------------------------------------------------------------------------------------------------
// Implementations

export type CodecImplementation = 'native' | 'npm' | 'node:zlib' | 'none';

interface Codec {
  readonly implementation: CodecImplementation;
  /** Output room compress() needs for n input bytes to always succeed. */
  maxCompressedLength(n: number): number;
  /**
   * True when compress() accepts a dst smaller than maxCompressedLength and then returns 0 if the
   * result does not fit (lets RecordCompressor ask for "strictly smaller" directly).
   */
  readonly limitedOutput: boolean;
  /** Compresses into dst; returns the bytes written, 0 when it did not fit. May throw. */
  compress(src: Uint8Array, dst: Uint8Array, level: number): number;
  /** Decodes exactly dst.length bytes into dst or throws (any error: the caller maps it). */
  decompress(src: Uint8Array, dst: Uint8Array): void;
}

class SizeMismatch extends Error {
  constructor(got: number | string, expected: number) {
    super(`decodes to ${got} bytes, expected ${expected}`);
  }
}

const require = createRequire(import.meta.url);

/** Loads an npm codec package once; undefined (and the reason kept) when it cannot load. */
const npmLoadErrors = new Map<string, string>();
function loadNpm<T>(name: string): T | undefined {
  try {
    return require(name) as T;
  } catch (e) {
    npmLoadErrors.set(name, String((e as Error)?.message ?? e).split('\n')[0]!);
    return undefined;
  }
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function copyOut(out: Uint8Array, dst: Uint8Array): number {
  if (out.length > dst.length) return 0;
  dst.set(out);
  return out.length;
}

function copyExact(out: Uint8Array, dst: Uint8Array): void {
  if (out.length !== dst.length) throw new SizeMismatch(out.length, dst.length);
  dst.set(out);
}

const noneCodec: Codec = {
  implementation: 'none',
  limitedOutput: true,
  maxCompressedLength: (n) => n,
  compress: () => 0,
  decompress(src, dst) {
    copyExact(src, dst);
  },
};

// ---- gzip (= zlib stream) through node:zlib
const gzipCodec: Codec = {
  implementation: 'node:zlib',
  limitedOutput: false,
  // deflateBound: n + n/4096 + n/16384 + n/33554432 + 13 (+ 6 for the zlib wrapper); generous.
  maxCompressedLength: (n) => n + Math.ceil(n / 1000) + 64,
  compress(src, dst, level) {
    return copyOut(zlib.deflateSync(src, { level: level === 0 ? zlib.constants.Z_DEFAULT_COMPRESSION : level }), dst);
  },
  decompress(src, dst) {
    // maxOutputLength bounds what a hostile stream can make us allocate.
    copyExact(zlib.inflateSync(src, { maxOutputLength: Math.max(1, dst.length) }), dst);
  },
};

// ---- native codecs (@blockwal/native-io)
function nativeCodec(type: CompressionType): Codec | undefined {
  switch (type) {
    case CompressionType.Snappy:
      return nio.nativeCodecs.snappy
        ? {
            implementation: 'native',
            limitedOutput: false,
            maxCompressedLength: nio.snappyMaxCompressedLength,
            compress: (src, dst) => nio.snappyCompress(src, dst),
            decompress: (src, dst) => void nio.snappyUncompress(src, dst),
          }
        : undefined;
    case CompressionType.Lz4:
      return nio.nativeCodecs.lz4
        ? {
            implementation: 'native',
            limitedOutput: true,
            maxCompressedLength: nio.lz4MaxCompressedLength,
            compress: (src, dst) => nio.lz4Compress(src, dst),
            decompress: (src, dst) => void nio.lz4Uncompress(src, dst),
          }
        : undefined;
    case CompressionType.Zstd:
      return nio.nativeCodecs.zstd
        ? {
            implementation: 'native',
            limitedOutput: true,
            maxCompressedLength: nio.zstdMaxCompressedLength,
            compress: (src, dst, level) => nio.zstdCompress(src, dst, zstdLevel(level)),
            decompress: (src, dst) => void nio.zstdUncompress(src, dst),
          }
        : undefined;
    case CompressionType.Lzma:
      return nio.nativeCodecs.lzma
        ? {
            implementation: 'native',
            limitedOutput: true,
            maxCompressedLength: nio.lzmaMaxCompressedLength,
            compress: (src, dst, level) => nio.lzmaCompress(src, dst, lzmaPreset(level)),
            decompress: (src, dst) => void nio.lzmaUncompress(src, dst),
          }
        : undefined;
    default:
      return undefined;
  }
}

/** walb-tools calls ZSTD_compress(level or 1). */
function zstdLevel(level: number): number {
  return level === 0 ? 1 : level;
}

/** walb-tools calls lzma_easy_buffer_encode(level or 6). */
function lzmaPreset(level: number): number {
  return level === 0 ? 6 : level;
}

/** The uncompressed length a raw snappy block declares (a little-endian base-128 varint). */
function snappyDeclaredLength(src: Uint8Array): number {
  let v = 0;
  for (let i = 0, shift = 0; i < 5 && i < src.length; i++, shift += 7) {
    const b = src[i]!;
    v += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return v;
  }
  return -1;
}

// ---- npm fallbacks (loaded on first use)
interface SnappyNpm {
  compressSync(input: Uint8Array): Buffer;
  uncompressSync(input: Uint8Array, opts: { asBuffer: true }): Buffer;
}
interface Lz4Npm {
  compressSync(input: Buffer): Buffer;
  uncompressSync(input: Uint8Array): Buffer;
}
interface ZstdBindingNpm {
  CCtx: new () => { compress(dst: Uint8Array, src: Uint8Array, level: number): number };
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  compressBound(n: number): number;
}
interface LzmaNativeStream {
  easyEncoder_(preset: number, check: number): void;
  streamDecoder_(memlimit: number | null, flags: number): void;
  code(chunk: Uint8Array | null, async: boolean): void;
  bufferHandler: (buf: Buffer | null | undefined, processedChunks: unknown, err: Error | null | undefined) => void;
}
interface LzmaNpm {
  Stream: new () => LzmaNativeStream;
  CHECK_CRC64: number;
}

function npmCodec(type: CompressionType): Codec | undefined {
  switch (type) {
    case CompressionType.Snappy: {
      const snappy = loadNpm<SnappyNpm>('snappy');
      if (!snappy) return undefined;
      return {
        implementation: 'npm',
        limitedOutput: false,
        maxCompressedLength: nio.snappyMaxCompressedLength,
        compress: (src, dst) => copyOut(snappy.compressSync(src), dst),
        decompress(src, dst) {
          // Check the declared length first: never let a corrupt header size an allocation.
          const declared = snappyDeclaredLength(src);
          if (declared !== dst.length) throw new SizeMismatch(declared < 0 ? 'an invalid number of' : declared, dst.length);
          copyExact(snappy.uncompressSync(src, { asBuffer: true }), dst);
        },
      };
    }
    case CompressionType.Lz4: {
      const lz4 = loadNpm<Lz4Npm>('lz4-napi');
      if (!lz4) return undefined;
      return {
        implementation: 'npm',
        limitedOutput: false,
        maxCompressedLength: nio.lz4MaxCompressedLength,
        // lz4-napi prefixes the raw block with the uncompressed size (u32 LE): strip it.
        compress: (src, dst) => copyOut(lz4.compressSync(asBuffer(src)).subarray(4), dst),
        decompress(src, dst) {
          const framed = Buffer.allocUnsafe(4 + src.length);
          framed.writeUInt32LE(dst.length, 0);
          framed.set(src, 4);
          copyExact(lz4.uncompressSync(framed), dst);
        },
      };
    }
    case CompressionType.Zstd: {
      const zstd = loadNpm<ZstdBindingNpm>('zstd-napi/binding');
      if (!zstd) return undefined;
      let cctx: InstanceType<ZstdBindingNpm['CCtx']> | undefined;
      let dctx: InstanceType<ZstdBindingNpm['DCtx']> | undefined;
      return {
        implementation: 'npm',
        limitedOutput: false,
        maxCompressedLength: (n) => zstd.compressBound(n),
        compress: (src, dst, level) => (cctx ??= new zstd.CCtx()).compress(dst, src, zstdLevel(level)),
        decompress(src, dst) {
          const n = (dctx ??= new zstd.DCtx()).decompress(dst, src);
          if (n !== dst.length) throw new SizeMismatch(n, dst.length);
        },
      };
    }
    case CompressionType.Lzma: {
      const lzma = loadNpm<LzmaNpm>('lzma-native');
      if (!lzma) return undefined;
      return {
        implementation: 'npm',
        limitedOutput: false,
        maxCompressedLength: nio.lzmaMaxCompressedLength,
        compress(src, dst, level) {
          const s = new lzma.Stream();
          s.easyEncoder_(lzmaPreset(level), lzma.CHECK_CRC64);
          return copyOut(runLzmaSync(s, src, Number.MAX_SAFE_INTEGER), dst);
        },
        decompress(src, dst) {
          const s = new lzma.Stream();
          s.streamDecoder_(LZMA_DECODER_MEMLIMIT, 0);
          copyExact(runLzmaSync(s, src, dst.length), dst);
        },
      };
    }
    default:
      return undefined;
  }
}

/** Same limit as the native decoder: every xz preset decodes within it (9 needs ~65 MiB). */
const LZMA_DECODER_MEMLIMIT = 256 * 1024 * 1024;

/**
 * Runs an lzma-native stream synchronously (its `code(chunk, false)` calls the buffer handler
 * before returning). Input goes in 4 KiB steps so that output beyond `limit` stops it early.
 */
function runLzmaSync(s: LzmaNativeStream, src: Uint8Array, limit: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  let error: Error | undefined;
  s.bufferHandler = (buf, _processed, err) => {
    if (err) error = err;
    if (buf) {
      chunks.push(buf);
      total += buf.length;
    }
  };
  const STEP = 4096;
  for (let i = 0; i < src.length && !error && total <= limit; i += STEP) s.code(src.subarray(i, i + STEP), false);
  if (!error && total <= limit) s.code(null, false);
  if (error) throw error;
  if (total > limit) throw new SizeMismatch(`more than ${limit}`, limit);
  return Buffer.concat(chunks, total);
}

/** Per type: the native codec and the fallback, each resolved on first need (null = unavailable). */
interface Entry {
  native?: Codec | null;
  fallback?: Codec | null;
}

const registry = new Map<CompressionType, Entry>();

function entry(type: CompressionType): Entry {
  let e = registry.get(type);
  if (e === undefined) {
    e = {};
    registry.set(type, e);
  }
  return e;
}

function nativeOf(type: CompressionType): Codec | null {
  const e = entry(type);
  if (e.native === undefined) e.native = nativeCodec(type) ?? null;
  return e.native;
}

/** The non-native implementation; npm packages are loaded only when first needed. */
function fallbackOf(type: CompressionType): Codec | null {
  const e = entry(type);
  if (e.fallback === undefined) {
    if (type === CompressionType.None) e.fallback = noneCodec;
    else if (type === CompressionType.Gzip) e.fallback = gzipCodec;
    else e.fallback = npmCodec(type) ?? null;
  }
  return e.fallback;
}

function checkType(type: CompressionType): void {
  if (!Number.isInteger(type) || type < 0 || type >= COMPRESSION_TYPE_COUNT) {
    throw new CorruptDataError(`unknown compression type ${String(type)}`);
  }
}

function pickCodec(type: CompressionType, implementation?: CodecImplementation): Codec {
  checkType(type);
  let codec: Codec | null;
  if (implementation === undefined) codec = nativeOf(type) ?? fallbackOf(type);
  else if (implementation === 'native') codec = nativeOf(type);
  else {
    codec = fallbackOf(type);
    if (codec?.implementation !== implementation) codec = null;
  }
  if (codec === null) {
    const name = compressionName(type);
    const why = implementation === undefined ? unavailableReason(type) : `the ${implementation} implementation is not available`;
    throw new UnsupportedError(`${name} compression is not available: ${why}`);
  }
  return codec;
}

const NPM_PACKAGE: Partial<Record<CompressionType, string>> = {
  [CompressionType.Snappy]: 'snappy',
  [CompressionType.Lz4]: 'lz4-napi',
  [CompressionType.Zstd]: 'zstd-napi/binding',
  [CompressionType.Lzma]: 'lzma-native',
};

function unavailableReason(type: CompressionType): string {
  const pkg = NPM_PACKAGE[type];
  const npmWhy = pkg ? `npm package ${pkg} did not load (${npmLoadErrors.get(pkg) ?? 'unknown reason'})` : '';
  const nativeWhy = nio.nativeInfo().loaded ? 'the native addon was built without this library' : 'the native addon is not loaded';
  return `${nativeWhy}, and the ${npmWhy}`;
}

/** Which implementation compresses/decompresses `type` by default ('unavailable' if none). */
export function codecImplementation(type: CompressionType): CodecImplementation | 'unavailable' {
  checkType(type);
  return (nativeOf(type) ?? fallbackOf(type))?.implementation ?? 'unavailable';
}

/** Every implementation available for `type`, preferred first (tests pin one of them). */
export function codecImplementations(type: CompressionType): CodecImplementation[] {
  checkType(type);
  return [nativeOf(type), fallbackOf(type)].filter((c): c is Codec => c !== null).map((c) => c.implementation);
}

export interface CodecChoice {
  /** Force one implementation (tests; `blockwal bench`). Default: the preferred one. */
  implementation?: CodecImplementation;
}

const EMPTY = new Uint8Array(0);

/**
 * Compresses wdiff record data. Reuses one internal output buffer: the returned `data` is valid
 * only until the next call. Returns type None and the input itself when compression fails or the
 * result is not strictly smaller (walb-tools stores the record raw then).
 */
export class RecordCompressor {
  readonly spec: Readonly<CompressionSpec>;
  readonly implementation: CodecImplementation;
  readonly #codec: Codec;
  #out: Uint8Array = EMPTY;

  constructor(spec: CompressionSpec, choice: CodecChoice = {}) {
    checkCompressionSpec(spec);
    this.spec = Object.freeze({ type: spec.type, level: spec.level });
    this.#codec = pickCodec(spec.type, choice.implementation);
    this.implementation = this.#codec.implementation;
  }

  compress(src: Uint8Array): { type: CompressionType; data: Uint8Array } {
    const type = this.spec.type;
    if (type === CompressionType.None || src.length === 0) return { type: CompressionType.None, data: src };
    const codec = this.#codec;
    // With limited output the codec itself answers "strictly smaller?" and gives up early.
    const room = codec.limitedOutput ? src.length - 1 : codec.maxCompressedLength(src.length);
    if (this.#out.length < room) this.#out = literalBuffer(room);
    let n = 0;
    try {
      n = codec.compress(src, codec.limitedOutput ? this.#out.subarray(0, room) : this.#out, this.spec.level);
    } catch {
      n = 0; // a codec failure stores the record raw, as walb-tools does
    }
    if (n <= 0 || n >= src.length) return { type: CompressionType.None, data: src };
    return { type, data: this.#out.subarray(0, n) };
  }
}

/**
 * Decompresses stored record bytes into exactly dst.length bytes. Throws CorruptDataError when the
 * payload does not decode or decodes to another size, UnsupportedError when no implementation
 * of that type is available. Add the location with `.at({ file, pack, record })`.
 */
export function decompressInto(type: CompressionType, src: Uint8Array, dst: Uint8Array, choice: CodecChoice = {}): void {
  const codec = pickCodec(type, choice.implementation);
  if (type === CompressionType.None && src.length !== dst.length) {
    throw new CorruptDataError(`uncompressed record data is ${src.length} bytes, expected ${dst.length}`);
  }
  try {
    codec.decompress(src, dst);
  } catch (e) {
    const msg = String((e as Error)?.message ?? e);
    throw new CorruptDataError(`${compressionName(type)} payload of ${src.length} bytes does not decode to ${dst.length} bytes: ${msg}`);
  }
}

/** One-shot helper for tools and tests: a fresh buffer of the compressed bytes (or null if not smaller). */
export function compressOnce(spec: CompressionSpec, src: Uint8Array, choice: CodecChoice = {}): Uint8Array | null {
  const r = new RecordCompressor(spec, choice).compress(src);
  return r.type === CompressionType.None ? null : Uint8Array.from(r.data);
}
