import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { RealDeviceFile, VolatileDeviceFile } from '@blockwal/wal-device';
import { scratchDir } from '../../../test/support/scratch.js';

describe('power-loss simulation (VolatileDeviceFile)', () => {
  const dir = scratchDir();
  after(() => dir.cleanup());

  it('reads its own writes, persists them on datasync, and loses what was not synced', async () => {
    const f = dir.file('v');
    writeFileSync(f, Buffer.alloc(64 * 1024, 0x11));
    const v = new VolatileDeviceFile(RealDeviceFile.open(f), 0, 1000); // no writeback at all
    await v.writev([Buffer.alloc(5000, 0x22), Buffer.alloc(100, 0x33)], 1000);
    const back = Buffer.alloc(6000);
    await v.read(back, 500);
    assert.ok(back.subarray(0, 500).every((x) => x === 0x11));
    assert.ok(back.subarray(500, 5500).every((x) => x === 0x22));
    assert.ok(back.subarray(5500, 5600).every((x) => x === 0x33));
    assert.ok(readFileSync(f).subarray(1000, 6100).every((x) => x === 0x11), 'nothing reached the file before datasync');
    await v.datasync();
    assert.ok(readFileSync(f).subarray(1000, 6000).every((x) => x === 0x22));
    await v.writev([Buffer.alloc(4096, 0x44)], 8192);
    v.close(); // a "power cut": the cache is gone
    assert.ok(readFileSync(f).subarray(8192, 12288).every((x) => x === 0x11), 'the unsynced write was lost');
  });

  it('writes back random pages in the background, in any order', async () => {
    const f = dir.file('w');
    writeFileSync(f, Buffer.alloc(256 * 1024));
    const v = new VolatileDeviceFile(RealDeviceFile.open(f), 0.3, 1);
    for (let p = 0; p < 64; p++) await v.writev([Buffer.alloc(4096, p + 1)], p * 4096);
    await new Promise((r) => setTimeout(r, 20));
    v.close();
    const got = readFileSync(f);
    const persisted = Array.from({ length: 64 }, (_, p) => got[p * 4096] === p + 1);
    assert.ok(persisted.some((x) => x), 'some pages were written back');
  });
});
