import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as js from '../src/checksum-js.js';

const CHILD = fileURLToPath(new URL('./fallback-child.ts', import.meta.url));

describe('native-io without the addon (BLOCKWAL_NATIVE=0, child process)', () => {
  let r: Record<string, any>;
  before(function () {
    this.timeout(60_000);
    const out = execFileSync(process.execPath, ['--conditions=blockwal-source', '--import', 'tsx', CHILD], {
      env: { ...process.env, BLOCKWAL_NATIVE: '0' },
      encoding: 'utf8',
    });
    r = JSON.parse(out) as Record<string, any>;
  });

  it('reports the fallback and its reason', () => {
    assert.equal(r['info'].loaded, false);
    assert.match(r['info'].reason, /BLOCKWAL_NATIVE=0/);
    assert.deepEqual(r['info'].codecs, { snappy: false, lz4: false, zstd: false, lzma: false });
    assert.equal(r['info'].directIo, false);
    assert.equal(r['info'].checksum, 'js');
  });

  it('computes the same checksums and zero tests', () => {
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    assert.deepEqual(r['checksums'], [0xf3f5f7fa, js.walbChecksum(big, 0x12345678), js.walbChecksum(big.subarray(1, 100_001), 3)]);
    assert.deepEqual(r['allZero'], [true, false]);
  });

  it('gives plain buffers and buffered I/O', () => {
    assert.deepEqual(r['aligned'], { length: 8192, isAligned: false, zero: true });
    assert.equal(r['direct'], false);
  });

  it('writes zeros instead of fallocate, and copies instead of reflink', () => {
    assert.equal(r['punched'], 'write-zeros');
    assert.equal(r['zeroed'], 'write-zeros');
    assert.equal(r['punchedZero'], true);
    assert.equal(r['size'], 65536 + 4096);
    assert.equal(r['reflink'], false);
    assert.equal(r['clone'], 'copy');
    assert.equal(r['cloneSize'], 65536 + 4096);
  });

  it('refuses ioctls with ENOSYS and native codecs with ERR_BLOCKWAL_NO_NATIVE_CODEC', () => {
    assert.equal(r['walbError'], 'ENOSYS');
    assert.equal(r['codecError'], 'ERR_BLOCKWAL_NO_NATIVE_CODEC');
  });
});
