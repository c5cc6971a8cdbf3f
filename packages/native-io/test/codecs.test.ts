import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import fc from 'fast-check';
import {
  lz4Compress,
  lz4MaxCompressedLength,
  lz4Uncompress,
  lzmaCompress,
  lzmaMaxCompressedLength,
  lzmaUncompress,
  nativeCodecs,
  nativeInfo,
  snappyCompress,
  snappyMaxCompressedLength,
  snappyUncompress,
  zstdCompress,
  zstdMaxCompressedLength,
  zstdUncompress,
} from '../src/index.js';
import { native } from '../src/native.js';

const RUNS = Number(process.env['BLOCKWAL_PROPERTY_RUNS'] ?? 1000);

interface CodecUnderTest {
  name: keyof typeof nativeCodecs;
  bound(n: number): number;
  compress(src: Uint8Array, dst: Uint8Array): number;
  uncompress(src: Uint8Array, dst: Uint8Array): number;
  /** Returns 0 when the output does not fit in dst. */
  limited: boolean;
}

const CODECS: CodecUnderTest[] = [
  { name: 'snappy', bound: snappyMaxCompressedLength, compress: snappyCompress, uncompress: snappyUncompress, limited: false },
  { name: 'lz4', bound: lz4MaxCompressedLength, compress: lz4Compress, uncompress: lz4Uncompress, limited: true },
  { name: 'zstd', bound: zstdMaxCompressedLength, compress: (s, d) => zstdCompress(s, d, 1), uncompress: zstdUncompress, limited: true },
  { name: 'lzma', bound: lzmaMaxCompressedLength, compress: (s, d) => lzmaCompress(s, d, 1), uncompress: lzmaUncompress, limited: true },
];

/** Text-like data: compresses 3-10x. */
function compressible(n: number, seed = 1): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'block', 'write', 'log', 'diff', '\n'];
  let x = seed;
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[x % words.length]!;
    parts.push(w, ' ');
    len += w.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

function roundTrip(c: CodecUnderTest, data: Uint8Array): number {
  const dst = Buffer.alloc(c.bound(data.length));
  const n = c.compress(data, dst);
  assert.ok(n > 0, `${c.name} compressed ${data.length} bytes to ${n}`);
  const back = Buffer.alloc(data.length);
  assert.equal(c.uncompress(dst.subarray(0, n), back), data.length);
  assert.ok(back.equals(data), `${c.name} round trip of ${data.length} bytes`);
  return n;
}

describe('native-io codecs', () => {
  it('nativeInfo lists the codecs the addon exposes', () => {
    assert.deepEqual(nativeInfo().codecs, { ...nativeCodecs });
    if (!native) assert.deepEqual(nativeCodecs, { snappy: false, lz4: false, zstd: false, lzma: false });
  });

  for (const c of CODECS) {
    describe(c.name, () => {
      before(function () {
        if (!nativeCodecs[c.name]) this.skip();
      });

      it('round-trips random and compressible data of many sizes, at odd offsets', () => {
        for (const size of [1, 100, 4096, 65536, 1 << 20]) {
          roundTrip(c, randomBytes(size));
          const n = roundTrip(c, compressible(size));
          if (size >= 4096) assert.ok(n < size / 2, `${c.name} compresses text (${n} of ${size})`);
          const odd = Buffer.alloc(size + 3);
          compressible(size, 7).copy(odd, 3);
          roundTrip(c, odd.subarray(3));
        }
      });

      it('compresses an empty input to something that decodes to nothing', () => {
        const dst = Buffer.alloc(c.bound(0));
        const n = c.compress(new Uint8Array(0), dst);
        assert.ok(n > 0);
        assert.equal(c.uncompress(dst.subarray(0, n), new Uint8Array(0)), 0);
      });

      if (c.limited) {
        it('returns 0 when the output does not fit in dst', () => {
          const data = randomBytes(65536);
          assert.equal(c.compress(data, Buffer.alloc(data.length - 1)), 0);
          assert.ok(c.compress(compressible(65536), Buffer.alloc(65535)) > 0);
        });
      } else {
        it('requires dst >= maxCompressedLength', () => {
          assert.throws(() => c.compress(randomBytes(100), Buffer.alloc(100)), RangeError);
        });
      }

      it('throws (never crashes) on a size mismatch', () => {
        const data = compressible(8192);
        const dst = Buffer.alloc(c.bound(data.length));
        const packed = dst.subarray(0, c.compress(data, dst));
        for (const wrong of [8191, 8193, 0, 100_000]) {
          assert.throws(() => c.uncompress(packed, Buffer.alloc(wrong)), { code: 'ERR_BLOCKWAL_CODEC' }, `${c.name} into ${wrong}`);
        }
      });

      it('throws (never crashes) on corrupt input: truncation, bit flips, garbage', () => {
        const data = compressible(16384);
        const dst = Buffer.alloc(c.bound(data.length));
        const packed = Buffer.from(dst.subarray(0, c.compress(data, dst)));
        const out = Buffer.alloc(data.length);
        assert.throws(() => c.uncompress(packed.subarray(0, packed.length >> 1), out), { code: 'ERR_BLOCKWAL_CODEC' });
        assert.throws(() => c.uncompress(new Uint8Array(0), out), { code: 'ERR_BLOCKWAL_CODEC' });
        fc.assert(
          fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.uint8Array({ maxLength: 300 }), (pos, flip, garbage) => {
            const bad = Buffer.from(packed);
            bad[pos % bad.length]! ^= flip;
            for (const input of [bad, garbage]) {
              try {
                c.uncompress(input, out);
                // A flip in a literal can still decode to the right size; only the size is checked.
              } catch (e) {
                assert.equal((e as NodeJS.ErrnoException).code, 'ERR_BLOCKWAL_CODEC', String(e));
              }
            }
          }),
          { numRuns: RUNS },
        );
      });
    });
  }

  it('lz4 writes a raw block: no size prefix, no frame magic', function () {
    if (!nativeCodecs.lz4) this.skip();
    const data = compressible(4096);
    const dst = Buffer.alloc(lz4MaxCompressedLength(4096));
    const n = lz4Compress(data, dst);
    assert.notEqual(dst.readUInt32LE(0), 4096);
    assert.notEqual(dst.readUInt32LE(0), 0x184d2204); // LZ4 frame magic
    assert.ok(n < 4096);
  });

  it('zstd writes a frame (magic 28 B5 2F FD) and levels change the output', function () {
    if (!nativeCodecs.zstd) this.skip();
    const data = compressible(1 << 18);
    const a = Buffer.alloc(zstdMaxCompressedLength(data.length));
    const b = Buffer.alloc(a.length);
    const n1 = zstdCompress(data, a, 1);
    const n9 = zstdCompress(data, b, 9);
    assert.deepEqual([...a.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    assert.ok(!a.subarray(0, n1).equals(b.subarray(0, n9)));
  });

  it('lzma writes an .xz stream with a CRC64 check', function () {
    if (!nativeCodecs.lzma) this.skip();
    const dst = Buffer.alloc(lzmaMaxCompressedLength(4096));
    lzmaCompress(compressible(4096), dst, 6);
    assert.deepEqual([...dst.subarray(0, 6)], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
    assert.equal(dst[7], 0x04); // stream flags: check type 4 = CRC64
  });

  it('the bounds are at least what the libraries need (zlib sanity check of the harness)', () => {
    // deflate is not a native codec; this only checks compressible() really compresses
    assert.ok(zlib.deflateSync(compressible(65536)).length < 65536 / 2);
    for (const n of [0, 1, 4096, 1 << 20]) {
      assert.ok(snappyMaxCompressedLength(n) >= n + 32);
      assert.ok(lz4MaxCompressedLength(n) >= n + 16);
      assert.ok(zstdMaxCompressedLength(n) >= n);
      assert.ok(lzmaMaxCompressedLength(n) >= n + 60);
    }
    if (native?.snappyMaxCompressedLength) assert.equal(snappyMaxCompressedLength(123_456), native.snappyMaxCompressedLength(123_456));
    if (native?.lz4MaxCompressedLength) assert.equal(lz4MaxCompressedLength(123_456), native.lz4MaxCompressedLength(123_456));
    if (native?.zstdMaxCompressedLength) {
      for (const n of [0, 1000, 131071, 131072, 1 << 20]) assert.equal(zstdMaxCompressedLength(n), native.zstdMaxCompressedLength(n));
    }
  });
});
