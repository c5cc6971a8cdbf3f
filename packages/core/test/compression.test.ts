import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  CompressionType,
  CorruptDataError,
  DEFAULT_COMPRESSION,
  RecordCompressor,
  UsageError,
  codecImplementation,
  codecImplementations,
  compressionName,
  decompressInto,
  formatCompressionSpec,
  parseCompressionSpec,
  walbChecksum,
  type CodecImplementation,
} from '@blockwal/core';
import { manifest, sha256, vectorPath } from '../../../test/support/vectors.js';

const ALL_TYPES = [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lzma, CompressionType.Lz4, CompressionType.Zstd];
const RUNS = Number(process.env['BLOCKWAL_PROPERTY_RUNS'] ?? 1000);

/** Text-like data: every codec shrinks it. */
function compressible(n: number, seed = 1): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'block', 'write', 'log', 'diff', '\n', '00000000'];
  let x = seed;
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[(x >>> 8) % words.length]!;
    parts.push(w, ' ');
    len += w.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

const INPUTS: Array<[string, Uint8Array]> = [
  ['empty', new Uint8Array(0)],
  ['1 byte', Uint8Array.of(42)],
  ['512 zero bytes', new Uint8Array(512)],
  ['4 KiB random', randomBytes(4096)],
  ['4 KiB compressible', compressible(4096)],
  ['64 KiB compressible at an odd offset', compressible(65536 + 1, 3).subarray(1)],
  ['1 MiB random', randomBytes(1 << 20)],
  ['1 MiB compressible', compressible(1 << 20, 5)],
];

function decode(type: CompressionType, stored: Uint8Array, size: number, implementation?: CodecImplementation): Buffer {
  const out = Buffer.alloc(size);
  decompressInto(type, stored, out, implementation ? { implementation } : {});
  return out;
}

describe('compression: specs', () => {
  it('names every id as the walb-tools CLI does', () => {
    assert.deepEqual(ALL_TYPES.map(compressionName), ['none', 'gzip', 'snappy', 'lzma', 'lz4', 'zstd']);
    assert.equal(compressionName(9 as CompressionType), 'unknown(9)');
  });

  it('defaults to snappy level 0, as walb-tools', () => {
    assert.deepEqual({ ...DEFAULT_COMPRESSION }, { type: CompressionType.Snappy, level: 0 });
  });

  it('accepts TYPE and TYPE:LEVEL for every type, levels 0..9', () => {
    const ok: Array<[string, CompressionType, number]> = [
      ['none', CompressionType.None, 0],
      ['gzip', CompressionType.Gzip, 0],
      ['snappy', CompressionType.Snappy, 0],
      ['lzma', CompressionType.Lzma, 0],
      ['lz4', CompressionType.Lz4, 0],
      ['zstd', CompressionType.Zstd, 0],
      ['zstd:3', CompressionType.Zstd, 3],
      ['gzip:9', CompressionType.Gzip, 9],
      [' Snappy ', CompressionType.Snappy, 0],
      ['lzma:6', CompressionType.Lzma, 6],
      ['lz4:0', CompressionType.Lz4, 0],
      ['zstd:09', CompressionType.Zstd, 9],
    ];
    for (const [text, type, level] of ok) assert.deepEqual(parseCompressionSpec(text), { type, level }, text);
    for (const t of ALL_TYPES) {
      const spec = { type: t, level: t === CompressionType.Lzma ? 5 : 7 };
      assert.deepEqual(parseCompressionSpec(formatCompressionSpec(spec)), spec);
    }
  });

  it('refuses bad specs with a UsageError naming the bad part', () => {
    const bad: Array<[string, RegExp]> = [
      ['bzip2', /"bzip2"/],
      ['', /unknown compression type ""/],
      ['zstd:10', /level 10 of zstd/],
      ['zstd:-1', /level "-1"/],
      ['zstd:x', /level "x"/],
      ['zstd:', /level ""/],
      ['snappy:0:1', /":1"/],
      ['lzma:7', /walb-tools cannot read/],
      ['lzma:9', /16 MiB/],
    ];
    for (const [text, re] of bad) assert.throws(() => parseCompressionSpec(text), (e: Error) => e instanceof UsageError && re.test(e.message), text);
    assert.throws(() => new RecordCompressor({ type: CompressionType.Lzma, level: 8 }), UsageError);
    assert.throws(() => new RecordCompressor({ type: 6 as CompressionType, level: 0 }), UsageError);
  });
});

describe('compression: implementations', () => {
  it('prefers the native codecs and always has gzip through node:zlib', () => {
    assert.equal(codecImplementation(CompressionType.None), 'none');
    assert.equal(codecImplementation(CompressionType.Gzip), 'node:zlib');
    for (const t of [CompressionType.Snappy, CompressionType.Lzma, CompressionType.Lz4, CompressionType.Zstd]) {
      const impls = codecImplementations(t);
      assert.ok(impls.length >= 1, `${compressionName(t)} has an implementation`);
      assert.equal(codecImplementation(t), impls[0]);
      if (impls.includes('native')) assert.equal(impls[0], 'native');
    }
  });

  for (const type of ALL_TYPES) {
    for (const impl of codecImplementations(type)) {
      describe(`${compressionName(type)} (${impl})`, () => {
        it('round-trips every input shape; stores raw when not strictly smaller', function () {
          this.timeout(60_000);
          const c = new RecordCompressor({ type, level: 0 }, { implementation: impl });
          assert.equal(c.implementation, impl);
          for (const [what, data] of INPUTS) {
            const r = c.compress(data);
            if (r.type === CompressionType.None) {
              assert.equal(r.data, data, `${what}: the input itself`);
            } else {
              assert.equal(r.type, type);
              assert.ok(r.data.length < data.length, `${what}: strictly smaller`);
            }
            if (type !== CompressionType.None && /compressible|zero/.test(what)) assert.equal(r.type, type, `${what} compresses`);
            if (/random|1 byte|empty/.test(what)) assert.equal(r.type, CompressionType.None, `${what} is stored raw`);
            const stored = Uint8Array.from(r.data);
            for (const dimpl of codecImplementations(r.type)) {
              assert.ok(decode(r.type, stored, data.length, dimpl).equals(data), `${what} decoded by ${dimpl}`);
            }
          }
        });

        it('throws CorruptDataError on a size mismatch', () => {
          const data = compressible(8192);
          const r = new RecordCompressor({ type, level: 0 }, { implementation: impl }).compress(data);
          const stored = Uint8Array.from(r.data);
          for (const size of [8191, 8193, 4096, 65536]) {
            assert.throws(() => decode(r.type, stored, size, impl), CorruptDataError, `into ${size}`);
          }
        });

        if (type !== CompressionType.None) {
          it('throws CorruptDataError on corrupt payloads (truncated, garbage, bit flips), never crashes', () => {
            const data = compressible(16384, 9);
            const r = new RecordCompressor({ type, level: 0 }, { implementation: impl }).compress(data);
            assert.equal(r.type, type);
            const stored = Buffer.from(r.data);
            assert.throws(() => decode(type, stored.subarray(0, stored.length >> 1), data.length, impl), CorruptDataError);
            assert.throws(() => decode(type, stored.subarray(0, 3), data.length, impl), CorruptDataError);
            assert.throws(() => decode(type, new Uint8Array(0), data.length, impl), CorruptDataError);
            assert.throws(() => decode(type, Buffer.from('definitely not a compressed payload'), data.length, impl), CorruptDataError);
            fc.assert(
              fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (pos, flip) => {
                const bad = Buffer.from(stored);
                bad[pos % bad.length]! ^= flip;
                try {
                  decode(type, bad, data.length, impl);
                } catch (e) {
                  assert.ok(e instanceof CorruptDataError, String(e));
                }
              }),
              { numRuns: RUNS },
            );
          });
        }
      });
    }
  }

  it('maps level 0 to the walb-tools defaults: zlib 6, xz preset 6, zstd 1', () => {
    const data = compressible(1 << 16, 11);
    const pairs: Array<[CompressionType, number]> = [
      [CompressionType.Gzip, 6],
      [CompressionType.Lzma, 6],
      [CompressionType.Zstd, 1],
    ];
    for (const [type, same] of pairs) {
      for (const impl of codecImplementations(type)) {
        const z = Buffer.from(new RecordCompressor({ type, level: 0 }, { implementation: impl }).compress(data).data);
        const l = Buffer.from(new RecordCompressor({ type, level: same }, { implementation: impl }).compress(data).data);
        assert.ok(z.equals(l), `${compressionName(type)} (${impl}) level 0 = level ${same}`);
      }
    }
  });

  it('reuses its output buffer: the result is valid until the next call', () => {
    const c = new RecordCompressor({ type: CompressionType.Snappy, level: 0 });
    const a = c.compress(compressible(4096, 1));
    const b = c.compress(compressible(4096, 2));
    assert.equal(a.data.buffer, b.data.buffer);
  });

  it('refuses an unknown stored compression type as corrupt data', () => {
    assert.throws(() => decompressInto(6 as CompressionType, new Uint8Array(4), new Uint8Array(4)), CorruptDataError);
  });
});

// ---- real payloads written by walb-tools (wdiff-merge with every -cmpr type)

interface StoredRecord {
  address: number;
  blocks: number;
  flags: number;
  type: CompressionType;
  stored: Uint8Array;
  checksum: number;
}

/** A minimal sorted-wdiff walker (walb-formats §6.2): 32-byte header, then 4096-byte packs + data. */
function sortedRecords(file: Uint8Array): StoredRecord[] {
  const v = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  assert.equal(v.readUInt16LE(4), 2, 'wdiff version');
  assert.equal(v[6], 0, 'sorted wdiff');
  const out: StoredRecord[] = [];
  let p = 32;
  for (;;) {
    const pack = v.subarray(p, p + 4096);
    assert.equal(walbChecksum(pack, 0), 0, `pack at ${p} verifies`);
    const n = pack.readUInt16LE(4);
    if (pack[6]! & 1) break;
    const total = pack.readUInt32LE(8);
    const data = v.subarray(p + 4096, p + 4096 + total);
    for (let i = 0; i < n; i++) {
      const r = 16 + 32 * i;
      const off = pack.readUInt32LE(r + 16);
      const size = pack.readUInt32LE(r + 20);
      out.push({
        address: Number(pack.readBigUInt64LE(r)),
        blocks: pack.readUInt32LE(r + 8),
        flags: pack[r + 12]!,
        type: pack[r + 13]! as CompressionType,
        stored: data.subarray(off, off + size),
        checksum: pack.readUInt32LE(r + 24),
      });
    }
    p += 4096 + total;
  }
  return out;
}

/** Applies a wdiff to a zero image of devsize bytes, discards as zeros (`wdiff-redo -z`). */
function applyToZeroImage(records: StoredRecord[], devsize: number, implementation?: CodecImplementation): Buffer {
  const img = Buffer.alloc(devsize);
  for (const r of records) {
    const target = img.subarray(r.address * 512, (r.address + r.blocks) * 512);
    if (r.flags & 0x06) {
      target.fill(0);
      continue;
    }
    assert.equal(walbChecksum(r.stored, 0), r.checksum, `record at ${r.address}: stored-bytes checksum`);
    decompressInto(r.type, r.stored, target, r.type === CompressionType.None || !implementation ? {} : { implementation });
  }
  return img;
}

describe('compression: walb-tools payloads (wdiff-merge-cmpr vectors)', () => {
  const CASE = 'wdiff-merge-cmpr';
  const m = manifest(CASE);
  const devsize = m.devsize!;
  const merged = m.files.filter((f) => f.path.startsWith('merged.') && f.kind === 'wdiff-sorted');
  const reference = applyToZeroImage(sortedRecords(readFileSync(vectorPath(CASE, 'merged.none.wdiff'))), devsize);

  it('the uncompressed merge gives the image walb-tools gave', () => {
    const none = merged.find((f) => f.path === 'merged.none.wdiff')!;
    assert.equal(sha256(reference), none.applied!.image_sha256_discard_zero);
  });

  for (const f of merged) {
    const records = sortedRecords(readFileSync(vectorPath(CASE, f.path)));
    const types = new Set(records.filter((r) => (r.flags & 0x06) === 0).map((r) => r.type));
    const cmpr = [...types].find((t) => t !== CompressionType.None) ?? CompressionType.None;
    for (const impl of codecImplementations(cmpr)) {
      it(`decodes every record of ${f.path} (${compressionName(cmpr)}, ${impl}) to the reference image`, () => {
        const expectCounts = f['normal_records_by_compression_id'] as Record<string, number> | undefined;
        if (expectCounts) {
          for (const [id, count] of Object.entries(expectCounts)) {
            assert.equal(records.filter((r) => (r.flags & 0x06) === 0 && r.type === Number(id)).length, count, `records of type ${id}`);
          }
        }
        const img = applyToZeroImage(records, devsize, impl);
        assert.ok(img.equals(reference), 'same image as merged.none.wdiff');
        assert.equal(sha256(img), f.applied!.image_sha256_discard_zero);
      });
    }
  }

  it('re-compresses those records so that every implementation reads them back', () => {
    const records = sortedRecords(readFileSync(vectorPath(CASE, 'merged.none.wdiff'))).filter((r) => (r.flags & 0x06) === 0);
    for (const type of ALL_TYPES) {
      for (const impl of codecImplementations(type)) {
        const c = new RecordCompressor({ type, level: 0 }, { implementation: impl });
        for (const r of records) {
          const out = c.compress(r.stored);
          const stored = Uint8Array.from(out.data);
          for (const dimpl of codecImplementations(out.type)) assert.ok(decode(out.type, stored, r.stored.length, dimpl).equals(r.stored));
        }
      }
    }
  });
});
