import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  allocAligned,
  blkDiscard,
  blockDevicePbs,
  blockDeviceSize,
  cloneOrCopy,
  directIoAvailable,
  fdatasync,
  isAligned,
  openFile,
  preadFull,
  punchHole,
  pwriteFull,
  reflink,
  zeroRange,
} from '../src/index.js';
import { native } from '../src/native.js';

const EXT4_MAGIC = 0xef53;
const TMPFS_MAGIC = 0x01021994;

function fsType(dir: string): number {
  return Number(fs.statfsSync(dir).type);
}

function tempDir(base: string): string {
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, 'blockwal-nio-'));
}

/** On the repository's filesystem (ext4 on the dev/CI machines), in the git-ignored build/. */
const REPO_FS_TMP = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'test-tmp');

describe('native-io aligned buffers', () => {
  for (const alignment of [512, 4096, 65536]) {
    it(`allocAligned(…, ${alignment}) is aligned, sized and zero-filled`, () => {
      for (const size of [0, 1, 4096, 100_000]) {
        const b = allocAligned(size, alignment);
        assert.equal(b.length, size);
        assert.ok(b.every((x) => x === 0));
        assert.equal(isAligned(b, alignment), native !== null);
      }
    });
  }

  it('isAligned sees a misaligned view', function () {
    if (!native) this.skip();
    const b = allocAligned(8192);
    assert.equal(isAligned(b.subarray(512), 4096), false);
    assert.equal(isAligned(b.subarray(512), 512), true);
  });

  it('refuses an alignment that is not a power of two', () => {
    assert.throws(() => allocAligned(10, 3000), RangeError);
    assert.throws(() => allocAligned(-1), RangeError);
  });
});

describe('native-io files', () => {
  let dir: string;
  before(() => {
    dir = tempDir(REPO_FS_TMP);
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    try {
      fs.rmdirSync(REPO_FS_TMP);
    } catch {
      // another run still uses it
    }
  });

  it('opens with O_DIRECT on ext4 (an unaligned file offset then fails with EINVAL)', function () {
    if (!directIoAvailable || fsType(dir) !== EXT4_MAGIC) this.skip();
    const file = path.join(dir, 'direct.img');
    const { fd, direct } = openFile(file, { write: true, create: true, exclusive: true, direct: true });
    try {
      assert.equal(direct, true);
      const out = allocAligned(65536);
      out.set(randomBytes(out.length));
      pwriteFull(fd, out, 4096);
      fdatasync(fd);
      const back = allocAligned(65536);
      assert.equal(preadFull(fd, back, 4096), back.length);
      assert.deepEqual(back, out);
      // Proof that O_DIRECT is in effect: the kernel refuses a file offset that is not a
      // multiple of the logical block size (the memory alignment rule can be laxer, see STATX_DIOALIGN).
      assert.throws(() => fs.readSync(fd, back, 0, 4096, 1), { code: 'EINVAL' });
    } finally {
      fs.closeSync(fd);
    }
  });

  it('falls back to buffered I/O where O_DIRECT is refused (procfs)', () => {
    const { fd, direct } = openFile('/proc/version', { direct: true });
    try {
      assert.equal(direct, false);
      const b = Buffer.alloc(4096);
      const n = preadFull(fd, b, 0);
      assert.match(b.subarray(0, n).toString(), /Linux/);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('opens on /dev/shm whether or not tmpfs takes O_DIRECT (Linux >= 6.6 does), and the data is right', function () {
    if (!fs.existsSync('/dev/shm') || fsType('/dev/shm') !== TMPFS_MAGIC) this.skip();
    const shm = tempDir('/dev/shm');
    try {
      const { fd, direct } = openFile(path.join(shm, 'x'), { write: true, create: true, exclusive: true, direct: true });
      assert.equal(typeof direct, 'boolean');
      const data = allocAligned(8192);
      data.set(randomBytes(8192));
      pwriteFull(fd, data, 0);
      const back = allocAligned(8192);
      assert.equal(preadFull(fd, back, 0), 8192);
      assert.deepEqual(back, data);
      // reflink is not possible on tmpfs: false, not an exception
      const other = openFile(path.join(shm, 'y'), { write: true, create: true });
      assert.equal(reflink(fd, other.fd), false);
      fs.closeSync(other.fd);
      fs.closeSync(fd);
    } finally {
      fs.rmSync(shm, { recursive: true, force: true });
    }
  });

  it('does not leave a file behind or fail with EEXIST when create+exclusive+direct is refused', () => {
    // O_DIRECT is switched on after the open, so the exclusive create happens exactly once.
    const file = path.join(dir, 'excl.img');
    const r = openFile(file, { write: true, create: true, exclusive: true, direct: true });
    fs.closeSync(r.fd);
    assert.throws(() => openFile(file, { write: true, create: true, exclusive: true, direct: true }), { code: 'EEXIST' });
  });

  it('preadFull stops at EOF, pwriteFull writes everything', () => {
    const file = path.join(dir, 'rw.bin');
    const { fd } = openFile(file, { write: true, create: true, truncate: true });
    try {
      const data = randomBytes(10_000);
      pwriteFull(fd, data, 0);
      const b = Buffer.alloc(16_384);
      assert.equal(preadFull(fd, b, 0), 10_000);
      assert.deepEqual(b.subarray(0, 10_000), data);
      assert.equal(preadFull(fd, b, 20_000), 0);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('punchHole zeroes a range, frees blocks on ext4 and keeps the size', () => {
    const file = path.join(dir, 'punch.img');
    const { fd } = openFile(file, { write: true, create: true, truncate: true });
    try {
      pwriteFull(fd, Buffer.alloc(1 << 20, 0xab), 0);
      fdatasync(fd);
      const before = fs.fstatSync(fd);
      const how = punchHole(fd, 65536, 262144);
      assert.equal(how, native ? 'punch-hole' : 'write-zeros');
      const after = fs.fstatSync(fd);
      assert.equal(after.size, 1 << 20);
      const b = Buffer.alloc(1 << 20);
      preadFull(fd, b, 0);
      assert.ok(b.subarray(0, 65536).every((x) => x === 0xab));
      assert.ok(b.subarray(65536, 65536 + 262144).every((x) => x === 0));
      assert.ok(b.subarray(65536 + 262144).every((x) => x === 0xab));
      if (how === 'punch-hole' && fsType(dir) === EXT4_MAGIC) assert.ok(after.blocks < before.blocks, `${after.blocks} < ${before.blocks}`);
      // beyond EOF: nothing happens to the size
      punchHole(fd, (1 << 20) - 4096, 1 << 20);
      assert.equal(fs.fstatSync(fd).size, 1 << 20);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('zeroRange zeroes a range and extends the file when it ends beyond it', () => {
    const file = path.join(dir, 'zero.img');
    const { fd } = openFile(file, { write: true, create: true, truncate: true });
    try {
      pwriteFull(fd, Buffer.alloc(131072, 0x5a), 0);
      assert.equal(zeroRange(fd, 4096, 8192), native ? 'zero-range' : 'write-zeros');
      zeroRange(fd, 131072 - 4096, 65536);
      assert.equal(fs.fstatSync(fd).size, 131072 - 4096 + 65536);
      const b = Buffer.alloc(131072 - 4096 + 65536);
      preadFull(fd, b, 0);
      assert.ok(b.subarray(0, 4096).every((x) => x === 0x5a));
      assert.ok(b.subarray(4096, 12288).every((x) => x === 0));
      assert.ok(b.subarray(12288, 131072 - 4096).every((x) => x === 0x5a));
      assert.ok(b.subarray(131072 - 4096).every((x) => x === 0));
    } finally {
      fs.closeSync(fd);
    }
  });

  it('reflink returns false on ext4 and cloneOrCopy copies (sparse) instead', () => {
    const src = openFile(path.join(dir, 'src.img'), { write: true, create: true, truncate: true });
    const dst = openFile(path.join(dir, 'dst.img'), { write: true, create: true, truncate: true });
    try {
      const data = Buffer.alloc(3 << 20);
      data.set(randomBytes(100_000), 0);
      data.set(randomBytes(5000), (2 << 20) + 77);
      pwriteFull(src.fd, data, 0);
      pwriteFull(dst.fd, Buffer.alloc(5 << 20, 1), 0); // stale content must disappear
      if (fsType(dir) === EXT4_MAGIC) assert.equal(reflink(src.fd, dst.fd), false);
      const how = cloneOrCopy(src.fd, dst.fd);
      assert.ok(how === 'copy' || how === 'reflink');
      assert.equal(fs.fstatSync(dst.fd).size, data.length);
      const back = Buffer.alloc(data.length);
      preadFull(dst.fd, back, 0);
      assert.ok(back.equals(data));
    } finally {
      fs.closeSync(src.fd);
      fs.closeSync(dst.fd);
    }
  });

  it('reflink still throws real errors (EBADF)', function () {
    if (!native) this.skip();
    assert.throws(() => reflink(1_000_000, 1_000_001), { code: 'EBADF' });
  });

  it('blockDeviceSize of a regular file is its size; pbs and discard need a block device', () => {
    const file = path.join(dir, 'size.img');
    const { fd } = openFile(file, { write: true, create: true, truncate: true });
    try {
      fs.ftruncateSync(fd, 12345);
      assert.equal(blockDeviceSize(fd), 12345);
      assert.throws(() => blockDevicePbs(fd), { code: 'ENOTBLK' });
      assert.throws(() => blkDiscard(fd, 0, 4096), { code: 'ENOTBLK' });
    } finally {
      fs.closeSync(fd);
    }
  });
});

/** Attaches a loop device when running as root with losetup (skipped otherwise). */
describe('native-io block devices (loop device, root only)', function () {
  let img = '';
  let dev = '';
  before(function () {
    if (process.env['BLOCKWAL_TEST_LOOP'] === '0' || process.getuid?.() !== 0) this.skip();
    img = path.join(tempDir(os.tmpdir()), 'loop.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 8 << 20);
    try {
      dev = execFileSync('losetup', ['--find', '--show', '--sector-size', '4096', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      this.skip();
    }
  });
  after(() => {
    if (dev) execFileSync('losetup', ['-d', dev]);
    if (img) fs.rmSync(path.dirname(img), { recursive: true, force: true });
  });

  it('reads size and physical block size, discards, punches and zeroes', () => {
    const { fd, direct } = openFile(dev, { write: true, direct: true });
    try {
      assert.equal(direct, directIoAvailable);
      assert.equal(blockDeviceSize(fd), 8 << 20);
      assert.equal(blockDevicePbs(fd), 4096);
      const data = allocAligned(65536);
      data.fill(0x77);
      pwriteFull(fd, data, 0);
      fdatasync(fd);
      if (native) {
        blkDiscard(fd, 0, 65536); // content undefined afterwards; only "it worked"
        pwriteFull(fd, data, 0);
        fdatasync(fd);
      }
      punchHole(fd, 4096, 4096);
      zeroRange(fd, 16384, 8192);
      const back = allocAligned(65536);
      preadFull(fd, back, 0);
      assert.ok(back.subarray(4096, 8192).every((x) => x === 0));
      assert.ok(back.subarray(16384, 24576).every((x) => x === 0));
      assert.ok(back.subarray(8192, 16384).every((x) => x === 0x77));
    } finally {
      fs.closeSync(fd);
    }
  });
});
