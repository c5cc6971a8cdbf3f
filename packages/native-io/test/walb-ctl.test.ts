import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  DEFAULT_WALB_START_PARAM,
  WALB_CTL_SIZE,
  WALB_DISK_DATA_SIZE,
  WALB_IOCTL_CONTROL,
  WALB_IOCTL_VERSION,
  WALB_IOCTL_WDEV,
  WALB_START_PARAM_SIZE,
  WalbCtlCommand,
  checkWalbStartParam,
  decodeWalbCtl,
  decodeWalbDiskData,
  decodeWalbStartParam,
  encodeWalbCtl,
  encodeWalbDiskData,
  encodeWalbStartParam,
  walbClearLog,
  walbCtlCall,
  walbFreeze,
  walbGetLogCapacity,
  walbGetLogUsage,
  walbGetLsid,
  walbGetVersion,
  walbIsFrozen,
  walbIsLogOverflow,
  walbMelt,
  walbResize,
  walbSetOldestLsid,
  walbStartDev,
  walbStopDev,
  walbTakeCheckpoint,
  type WalbCtl,
  type WalbStartParam,
} from '../src/index.js';
import { native } from '../src/native.js';

/** Linux _IOC encoding (x86_64): dir << 30 | size << 16 | type << 8 | nr. */
function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
const IOC_READ = 2;
const IOC_WRITE = 1;

describe('WalB ioctl structures', () => {
  it('has the ioctl numbers of walb-formats §4.1 (LP64 sizes)', () => {
    assert.equal(WALB_IOCTL_VERSION, ioc(IOC_READ, 0xfe, 0, 4));
    assert.equal(WALB_IOCTL_CONTROL, ioc(IOC_READ | IOC_WRITE, 0xfe, 1, WALB_CTL_SIZE));
    assert.equal(WALB_IOCTL_WDEV, ioc(IOC_READ | IOC_WRITE, 0xfe, 2, WALB_CTL_SIZE));
    assert.equal(WALB_CTL_SIZE, 120);
    assert.equal(WALB_START_PARAM_SIZE, 64);
    assert.equal(WALB_DISK_DATA_SIZE, 40);
  });

  it('has the command ids of walb-formats §4.3', () => {
    const expected: Array<[WalbCtlCommand, number]> = [
      [WalbCtlCommand.StartDev, 1], [WalbCtlCommand.StopDev, 2], [WalbCtlCommand.GetMajor, 3], [WalbCtlCommand.ListDev, 4],
      [WalbCtlCommand.NumOfDev, 5], [WalbCtlCommand.GetOldestLsid, 6], [WalbCtlCommand.SetOldestLsid, 7], [WalbCtlCommand.Status, 8],
      [WalbCtlCommand.GetCheckpointInterval, 16], [WalbCtlCommand.TakeCheckpoint, 17], [WalbCtlCommand.SetCheckpointInterval, 18],
      [WalbCtlCommand.GetWrittenLsid, 19], [WalbCtlCommand.GetPermanentLsid, 20], [WalbCtlCommand.GetCompletedLsid, 21],
      [WalbCtlCommand.GetLogUsage, 22], [WalbCtlCommand.GetLogCapacity, 23], [WalbCtlCommand.IsFlushCapable, 24],
      [WalbCtlCommand.Resize, 25], [WalbCtlCommand.ClearLog, 26], [WalbCtlCommand.IsLogOverflow, 27], [WalbCtlCommand.Freeze, 28],
      [WalbCtlCommand.Melt, 29], [WalbCtlCommand.IsFrozen, 30],
    ];
    for (const [cmd, id] of expected) assert.equal(cmd, id);
  });

  it('places every walb_ctl field at its offset (§4.2)', () => {
    const b = encodeWalbCtl({
      command: 0x01020304,
      valInt: -2,
      valU64: 0x1122334455667788n,
      valU32: 0xa1b2c3d4,
      error: -7,
      u2k: { wmajor: 1, wminor: 2, lmajor: 3, lminor: 4, dmajor: 5, dminor: 6, bufSize: 64 },
      k2u: { wmajor: 11, wminor: 12, lmajor: 13, lminor: 14, dmajor: 15, dminor: 16, bufSize: 0x123456789 },
    });
    assert.equal(b.length, 120);
    assert.equal(b.readInt32LE(0), 0x01020304);
    assert.equal(b.readInt32LE(4), -2);
    assert.equal(b.readBigUInt64LE(8), 0x1122334455667788n);
    assert.equal(b.readUInt32LE(16), 0xa1b2c3d4);
    assert.equal(b.readInt32LE(20), -7);
    for (const [base, first] of [[24, 1], [72, 11]] as const) {
      for (let i = 0; i < 6; i++) assert.equal(b.readUInt32LE(base + 4 * i), first + i, `field ${i} at ${base}`);
      assert.equal(b.readBigUInt64LE(base + 32), 0n, 'buf pointer left to the native call');
      assert.equal(b.readBigUInt64LE(base + 40), 0n, 'kbuf');
    }
    assert.equal(b.readBigUInt64LE(24 + 24), 64n);
    assert.equal(b.readBigUInt64LE(72 + 24), 0x123456789n);
  });

  it('decodes what it encodes (property)', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    const i32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
    const data = fc.record({ wmajor: u32, wminor: u32, lmajor: u32, lminor: u32, dmajor: u32, dminor: u32, bufSize: fc.integer({ min: 0, max: 2 ** 40 }) });
    fc.assert(
      fc.property(
        fc.record({ command: i32, valInt: i32, valU64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), valU32: u32, error: i32, u2k: data, k2u: data }),
        (c: WalbCtl) => {
          // fast-check records have a null prototype: compare plain copies
          assert.deepEqual(decodeWalbCtl(encodeWalbCtl(c)), { ...c, u2k: { ...c.u2k }, k2u: { ...c.k2u } });
        },
      ),
    );
  });

  it('refuses out-of-range fields and wrong sizes', () => {
    assert.throws(() => encodeWalbCtl({ valU32: -1 }), RangeError);
    assert.throws(() => encodeWalbCtl({ command: 2 ** 31 }), RangeError);
    assert.throws(() => encodeWalbCtl({ valU64: 2n ** 64n }), RangeError);
    assert.throws(() => decodeWalbCtl(new Uint8Array(119)), RangeError);
  });

  it('encodes walb_start_param (name, then 8 u32 from byte 32)', () => {
    const p: WalbStartParam = { ...DEFAULT_WALB_START_PARAM, name: 'vol0' };
    const b = encodeWalbStartParam(p);
    assert.equal(b.length, 64);
    assert.equal(b.subarray(0, 5).toString('latin1'), 'vol0\0');
    assert.ok(b.subarray(4, 32).every((x) => x === 0));
    assert.deepEqual(
      [32, 36, 40, 44, 48, 52, 56, 60].map((o) => b.readUInt32LE(o)),
      [p.maxPendingMb, p.minPendingMb, p.queueStopTimeoutMs, p.maxLogpackKb, p.logFlushIntervalMs, p.logFlushIntervalMb, p.nPackBulk, p.nIoBulk],
    );
    assert.deepEqual(decodeWalbStartParam(b), p);
  });

  it('checks walb_start_param as the driver does', () => {
    assert.deepEqual(checkWalbStartParam(DEFAULT_WALB_START_PARAM), []);
    assert.equal(checkWalbStartParam({ ...DEFAULT_WALB_START_PARAM, name: 'x'.repeat(26) }).length, 1);
    assert.equal(checkWalbStartParam({ ...DEFAULT_WALB_START_PARAM, minPendingMb: 32 }).length, 1);
    assert.equal(checkWalbStartParam({ ...DEFAULT_WALB_START_PARAM, logFlushIntervalMb: 17 }).length, 1);
    assert.equal(checkWalbStartParam({ ...DEFAULT_WALB_START_PARAM, maxPendingMb: 16385, minPendingMb: 1, logFlushIntervalMb: 1 }).length, 1);
  });

  it('encodes walb_disk_data', () => {
    const b = encodeWalbDiskData({ name: 'walb/vol0', major: 252, minor: 7 });
    assert.equal(b.length, 40);
    assert.equal(b.readUInt32LE(32), 252);
    assert.equal(b.readUInt32LE(36), 7);
    assert.deepEqual(decodeWalbDiskData(b), { name: 'walb/vol0', major: 252, minor: 7 });
  });
});

describe('WalB ioctls on a file that is not a WalB device', () => {
  let dir: string;
  let fd: number;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'blockwal-walb-'));
    fd = fs.openSync(path.join(dir, 'not-walb'), 'w+');
  });
  after(() => {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const expectedCode = () => (native ? 'ENOTTY' : 'ENOSYS');

  it('every typed helper throws a Node-style ENOTTY error', () => {
    const calls: Array<[string, () => unknown]> = [
      ['version', () => walbGetVersion(fd)],
      ['oldest', () => walbGetLsid(fd, 'oldest')],
      ['written', () => walbGetLsid(fd, 'written')],
      ['permanent', () => walbGetLsid(fd, 'permanent')],
      ['completed', () => walbGetLsid(fd, 'completed')],
      ['setOldest', () => walbSetOldestLsid(fd, 10)],
      ['usage', () => walbGetLogUsage(fd)],
      ['capacity', () => walbGetLogCapacity(fd)],
      ['overflow', () => walbIsLogOverflow(fd)],
      ['freeze', () => walbFreeze(fd, 10)],
      ['melt', () => walbMelt(fd)],
      ['frozen', () => walbIsFrozen(fd)],
      ['resize', () => walbResize(fd)],
      ['clear', () => walbClearLog(fd)],
      ['checkpoint', () => walbTakeCheckpoint(fd)],
      ['start', () => walbStartDev(fd, { major: 7, minor: 0 }, { major: 7, minor: 1 }, { name: 'v' })],
      ['stop', () => walbStopDev(fd, { major: 252, minor: 0 })],
    ];
    for (const [what, call] of calls) {
      assert.throws(call, (e: NodeJS.ErrnoException) => {
        assert.equal(e.code, expectedCode(), what);
        assert.equal(e.syscall, 'ioctl', what);
        if (native) assert.equal(e.errno, -25, what);
        assert.match(e.message, native ? /^ENOTTY: inappropriate ioctl for device, ioctl/ : /^ENOSYS/);
        return true;
      });
    }
  });

  it('refuses a request other than CONTROL/WDEV and a ctl of the wrong size (native argument checks)', function () {
    if (!native) this.skip();
    assert.throws(() => native!.ioctlWalbCtl(fd, 0x1234, encodeWalbCtl({})), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => native!.ioctlWalbCtl(fd, WALB_IOCTL_WDEV, new Uint8Array(64)), { code: 'ERR_OUT_OF_RANGE' });
  });

  it('passes buffers through walbCtlCall and leaves no pointers in the copied-back struct', function () {
    if (!native) this.skip();
    const raw = encodeWalbCtl({ command: WalbCtlCommand.GetOldestLsid });
    assert.throws(() => native!.ioctlWalbCtl(fd, WALB_IOCTL_WDEV, raw, new Uint8Array(8), new Uint8Array(16)), { errno: 25 });
    const back = decodeWalbCtl(raw);
    assert.equal(back.u2k.bufSize, 8);
    assert.equal(back.k2u.bufSize, 16);
    for (const off of [56, 64, 104, 112]) assert.equal(raw.readBigUInt64LE(off), 0n);
    assert.throws(() => walbCtlCall(fd, WALB_IOCTL_CONTROL, { command: WalbCtlCommand.NumOfDev }), { code: 'ENOTTY' });
  });
});
