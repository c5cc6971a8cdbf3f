import assert from 'node:assert/strict';
import { RealDeviceFile, WalDevice, WalDeviceControl, ControlServer, createWalDevice, type WalDeviceOptions } from '@blockwal/wal-device';
import { scratchDir } from '../../../test/support/scratch.js';

const MiB = 1024 * 1024;

async function withDevice(logSize: number, opts: WalDeviceOptions, fn: (dev: WalDevice, dir: ReturnType<typeof scratchDir>) => Promise<void>): Promise<void> {
  const dir = scratchDir();
  createWalDevice({ dataPath: dir.file('data'), logPath: dir.file('log'), size: 8 * MiB, logSize, pbs: 4096, name: 'c0' });
  const dev = new WalDevice(RealDeviceFile.open(dir.file('log')), RealDeviceFile.open(dir.file('data')), { logFlushIntervalMs: 10, checkpointIntervalMs: 50, ...opts });
  try {
    await fn(dev, dir);
  } finally {
    await dev.close();
    dir.cleanup();
  }
}

describe('WAL device ring management and control', () => {
  it('overflow policy: writing more than the ring without freeing it marks overflow and goes on', async () => {
    await withDevice(1 * MiB, { overflowPolicy: 'overflow' }, async (dev) => {
      assert.equal(dev.isOverflow, false);
      for (let i = 0; i < 64; i++) await dev.write((i % 16) * 65536, Buffer.alloc(65536, i), false);
      assert.equal(dev.isOverflow, true);
      const s = dev.status();
      assert.ok(s.overflow && s.logUsagePb > s.logCapacityPb);
      assert.ok(Buffer.from(await dev.read(15 * 65536, 65536)).every((x) => x === 63), 'writes go on after the overflow');
      await dev.resetLog();
      assert.equal(dev.isOverflow, false, 'a log reset clears the overflow');
      assert.equal(dev.lsids().oldest, 0);
    });
  });

  it('block policy: writes wait for the ring until the oldest lsid moves', async () => {
    await withDevice(1 * MiB, { overflowPolicy: 'block', blockTimeoutMs: 60_000 }, async (dev) => {
      let done = 0;
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 40; i++) writes.push(dev.write((i % 16) * 65536, Buffer.alloc(65536, i), false).then(() => void done++));
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(done < 40, 'some writes are held');
      assert.equal(dev.status().blockedOnRing, true);
      assert.equal(dev.isOverflow, false);
      // The storage agent ships the log and frees it, again and again.
      while (done < 40) {
        const l = dev.lsids();
        if (l.permanent > l.oldest) await dev.setOldestLsid(l.permanent);
        await new Promise((r) => setTimeout(r, 20));
      }
      await Promise.all(writes);
      assert.equal(dev.isOverflow, false);
    });
  });

  it('block policy: after the timeout the device overflows rather than wait forever', async () => {
    await withDevice(1 * MiB, { overflowPolicy: 'block', blockTimeoutMs: 150 }, async (dev) => {
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 40; i++) writes.push(dev.write((i % 16) * 65536, Buffer.alloc(65536, i), false));
      await Promise.all(writes);
      assert.equal(dev.isOverflow, true);
    });
  });

  it('freeze holds writes (reads go on), melt lets them through; cut returns a durable lsid', async () => {
    await withDevice(16 * MiB, {}, async (dev) => {
      await dev.write(0, Buffer.alloc(4096, 1), false);
      dev.freeze();
      let written = false;
      const w = dev.write(4096, Buffer.alloc(4096, 2), false).then(() => (written = true));
      const cut = await dev.cut();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(written, false, 'a write during a freeze waits');
      assert.ok(Buffer.from(await dev.read(0, 4096)).every((x) => x === 1));
      assert.ok(dev.lsids().permanent >= cut);
      dev.melt();
      await w;
      assert.ok(dev.lsids().latest > cut, 'the held write lies after the cut');
    });
  });

  it('grows the device', async () => {
    await withDevice(16 * MiB, {}, async (dev) => {
      await dev.grow(12 * MiB);
      assert.equal(dev.size, 12 * MiB);
      await dev.write(12 * MiB - 4096, Buffer.alloc(4096, 9), false);
      await assert.rejects(dev.grow(4 * MiB), /at least the current/);
    });
  });

  it('serves the control protocol on a unix socket, with lsid events', async () => {
    await withDevice(16 * MiB, {}, async (dev, dir) => {
      const server = await ControlServer.listen(dev, dir.file('ctl'));
      const c = await WalDeviceControl.connect(dir.file('ctl'));
      try {
        const events: number[] = [];
        await c.watch((e) => events.push(e.lsids.permanent));
        await dev.write(0, Buffer.alloc(65536, 3), false);
        const cut = await c.cut();
        assert.ok(cut > 0);
        const st = await c.status();
        assert.equal(st.name, 'c0');
        assert.ok(st.lsids.permanent >= cut);
        await c.setOldestLsid(cut);
        assert.equal((await c.lsids()).oldest, cut);
        await assert.rejects(c.setOldestLsid(cut + 100000), /oldest lsid/);
        await c.freeze(1000);
        assert.equal(dev.isFrozen, true);
        await c.melt();
        assert.equal(dev.isFrozen, false);
        await new Promise((r) => setTimeout(r, 50));
        assert.ok(events.length > 0 && events[events.length - 1]! >= cut, 'watchers hear of durable log');
      } finally {
        c.close();
        await server.close();
      }
    });
  });
});
