import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import * as js from '../src/checksum-js.js';
import { walbChecksum, isAllZero, NATIVE_MIN_BYTES, nativeInfo } from '../src/index.js';
import { native } from '../src/native.js';

const RUNS = Number(process.env['BLOCKWAL_PROPERTY_RUNS'] ?? 1000);

/** The worked examples of walb-formats §1. */
const EXAMPLES: Array<{ what: string; data: Uint8Array; salt: number; sum: number }> = [
  { what: '01..08', data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), salt: 0, sum: 0xf3f5f7fa },
  { what: '01..08 salted', data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), salt: 0x12345678, sum: 0xe1c1a182 },
  { what: '01..05 (tail rule)', data: Uint8Array.of(1, 2, 3, 4, 5), salt: 0, sum: 0xfbfcfdfa },
  { what: '512 zero bytes', data: new Uint8Array(512), salt: 0x12345678, sum: 0xedcba988 },
  { what: '4096 bytes i & 0xff', data: Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff), salt: 0x12345678, sum: 0xebcdb188 },
  { what: 'sorted-wdiff end pack', data: (() => { const b = new Uint8Array(4096); b[6] = 1; return b; })(), salt: 0, sum: 0xffff0000 },
];

/** A view of `len` random bytes starting at byte `offset` of a larger buffer. */
function viewAt(offset: number, len: number, fill?: Uint8Array): Uint8Array {
  const backing = new Uint8Array(offset + len + 8);
  if (fill) backing.set(fill, offset);
  else backing.set(randomBytes(offset + len + 8));
  return backing.subarray(offset, offset + len);
}

describe('native-io checksum', () => {
  it('reports whether the addon is used, and why not', () => {
    const info = nativeInfo();
    assert.equal(info.loaded, native !== null);
    if (!info.loaded) assert.ok(info.reason && info.reason.length > 0);
    assert.equal(info.checksum, info.loaded ? 'native' : 'js');
  });

  for (const ex of EXAMPLES) {
    it(`gives the walb-formats value for ${ex.what} (dispatching, JS and native)`, () => {
      assert.equal(walbChecksum(ex.data, ex.salt), ex.sum);
      assert.equal(js.walbChecksum(ex.data, ex.salt), ex.sum);
      if (native) assert.equal(native.walbChecksum(ex.data, ex.salt), ex.sum);
      // at an odd byte offset too
      const odd = viewAt(3, ex.data.length, ex.data);
      assert.equal(walbChecksum(odd, ex.salt), ex.sum);
      if (native) assert.equal(native.walbChecksum(odd, ex.salt), ex.sum);
    });
  }

  it('native equals JS on random sizes, byte offsets and salts', function () {
    if (!native) this.skip();
    const n = native;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 0xffffffff }), (len, off, salt) => {
        const v = viewAt(off, len);
        const expected = js.walbChecksum(v, salt);
        assert.equal(n.walbChecksum(v, salt), expected);
        assert.equal(walbChecksum(v, salt), expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('native equals JS on 1 MiB buffers at every offset mod 8', function () {
    if (!native) this.skip();
    for (let off = 0; off < 8; off++) {
      const v = viewAt(off, (1 << 20) - off);
      assert.equal(native.walbChecksum(v, 7), js.walbChecksum(v, 7));
    }
  });

  it('takes the salt modulo 2^32 as the JS version does', function () {
    if (!native) this.skip();
    const v = viewAt(0, NATIVE_MIN_BYTES * 2);
    for (const salt of [-1, -(2 ** 31), 2 ** 32 - 1, 2 ** 32 + 5, 1.5]) assert.equal(native.walbChecksum(v, salt), js.walbChecksum(v, salt));
  });

  it('self-checksummed blocks verify to 0', () => {
    const block = viewAt(1, 4096);
    block.fill(0, 0, 4);
    const c = walbChecksum(block, 0x1234);
    new DataView(block.buffer, block.byteOffset).setUint32(0, c, true);
    assert.equal(walbChecksum(block, 0x1234), 0);
  });

  it('rejects a non-buffer with a TypeError, not a crash', function () {
    if (!native) this.skip();
    assert.throws(() => native!.walbChecksum('abc' as unknown as Uint8Array, 0), TypeError);
    assert.throws(() => native!.isAllZero({} as Uint8Array), TypeError);
  });
});

describe('native-io isAllZero', () => {
  it('native equals JS with one non-zero byte anywhere, at any offset', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 9 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (len, off, pos, val) => {
        const v = viewAt(off, len, new Uint8Array(len));
        assert.equal(isAllZero(v), true);
        assert.equal(js.isAllZero(v), true);
        if (native) assert.equal(native.isAllZero(v), true);
        if (len === 0) return;
        v[pos % len] = val;
        assert.equal(isAllZero(v), false);
        assert.equal(js.isAllZero(v), false);
        if (native) assert.equal(native.isAllZero(v), false);
      }),
      { numRuns: RUNS },
    );
  });

  it('is not fooled by bytes outside the view', () => {
    const backing = new Uint8Array(4096 + 16).fill(0xff);
    const v = backing.subarray(8, 8 + 4096);
    v.fill(0);
    assert.equal(isAllZero(v), true);
    if (native) assert.equal(native.isAllZero(v), true);
  });

  it('treats a negative-zero bit pattern as non-zero (JS Float64 path)', () => {
    const b = new Uint8Array(64);
    b[7] = 0x80; // -0 as a little-endian double
    assert.equal(js.isAllZero(b), false);
    assert.equal(isAllZero(b), false);
  });
});
