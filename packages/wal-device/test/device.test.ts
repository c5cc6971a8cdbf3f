import assert from 'node:assert/strict';
import { readFileSync, openSync, closeSync } from 'node:fs';
import fc from 'fast-check';
import { RealDeviceFile, WalDevice, createWalDevice } from '@blockwal/wal-device';
import { scratchDir, zeroImage } from '../../../test/support/scratch.js';
import { assertLogRebuildsData } from '../../../test/support/wal-device-check.js';

const MiB = 1024 * 1024;

function openDevice(dir: { file(n: string): string }, opts = {}): WalDevice {
  return new WalDevice(RealDeviceFile.open(dir.file('log')), RealDeviceFile.open(dir.file('data')), { checkpointIntervalMs: 200, logFlushIntervalMs: 20, ...opts });
}

describe('WAL device', () => {
  for (const pbs of [512, 4096]) {
    it(`pbs ${pbs}: random writes, trims and zeroes read back, survive close/reopen, and the log rebuilds the data device`, async () => {
      const dir = scratchDir();
      try {
        const size = 8 * MiB;
        createWalDevice({ dataPath: dir.file('data'), logPath: dir.file('log'), size, logSize: 512 * MiB, pbs, name: 'v0' }); // big enough never to wrap
        const model = Buffer.alloc(size);
        let dev = openDevice(dir);
        await fc.assert(
          fc.asyncProperty(
            fc.array(
              fc.record({ op: fc.constantFrom('write', 'write', 'write', 'trim', 'zero', 'flush', 'read'), at: fc.nat(size / 512 - 1), n: fc.integer({ min: 1, max: 300 }), v: fc.integer({ min: 1, max: 255 }), fua: fc.boolean() }),
              { maxLength: 30 },
            ),
            async (ops) => {
              const inflight: Promise<unknown>[] = [];
              for (const o of ops) {
                const pos = o.at * 512;
                const len = Math.min(o.n * 512, size - pos);
                if (o.op === 'write') {
                  const data = Buffer.alloc(len, o.v);
                  data.writeUInt32LE(pos, 0);
                  inflight.push(dev.write(pos, data, o.fua));
                  data.copy(model, pos);
                } else if (o.op === 'trim' || o.op === 'zero') {
                  inflight.push(o.op === 'trim' ? dev.trim(pos, len, o.fua) : dev.writeZeroes(pos, len, { fua: o.fua, noHole: o.v > 128 }));
                  model.fill(0, pos, pos + len);
                } else if (o.op === 'flush') {
                  await Promise.all(inflight);
                  await dev.flush();
                } else {
                  await Promise.all(inflight); // reads see completed writes (pending or applied)
                  const got = await dev.read(pos, len);
                  assert.ok(Buffer.from(got).equals(model.subarray(pos, pos + len)), `read ${pos}+${len}`);
                }
              }
              await Promise.all(inflight);
              const all = await dev.read(0, size);
              assert.ok(Buffer.from(all).equals(model));
            },
          ),
          { numRuns: 100 },
        );
        await dev.close();
        assert.ok(readFileSync(dir.file('data')).equals(model));
        dev = openDevice(dir);
        assert.equal(dev.recovery.packsRedone, 0, 'a clean shutdown leaves nothing to redo');
        assert.ok(!dev.isOverflow, 'the ring never wrapped (the log must hold the whole history for the check below)');
        assert.ok(Buffer.from(await dev.read(0, size)).equals(model));
        await dev.close();
        assertLogRebuildsData(dir.file('log'), dir.file('data'), dir.file);
      } finally {
        dir.cleanup();
      }
    });
  }

  it('starts the writeback of long sequential runs, never of short random writes (writebackBytes)', async () => {
    class Recording extends RealDeviceFile {
      readonly ranges: number[] = [];
      override async startWriteback(ranges: Float64Array): Promise<void> {
        this.ranges.push(...ranges);
        await super.startWriteback(ranges);
      }
    }
    const run = async (writebackBytes: number, writes: (dev: WalDevice) => Promise<void>): Promise<number[]> => {
      const dir = scratchDir();
      try {
        createWalDevice({ dataPath: dir.file('data'), logPath: dir.file('log'), size: 8 * MiB, logSize: 32 * MiB, pbs: 4096 });
        const data = new Recording(openSync(dir.file('data'), 'r+'), dir.file('data'));
        const dev = new WalDevice(RealDeviceFile.open(dir.file('log')), data, { checkpointIntervalMs: 200, logFlushIntervalMs: 20, writebackBytes });
        await writes(dev);
        await dev.close();
        assertLogRebuildsData(dir.file('log'), dir.file('data'), dir.file);
        return data.ranges;
      } finally {
        dir.cleanup();
      }
    };
    const sequential = async (dev: WalDevice) => {
      for (let off = 0; off < 4 * MiB; off += 256 * 1024) await dev.write(off, Buffer.alloc(256 * 1024, 1 + off / (256 * 1024)), false);
    };
    const ranges = await run(MiB, sequential);
    // Coalesced runs from the start of the device, in order, covering at least 3 of the 4 MiB
    // (what was applied after the last writeback started may be left to the checkpoint).
    assert.ok(ranges.length >= 2 && ranges.length % 2 === 0, `ranges ${ranges}`);
    let end = 0;
    for (let i = 0; i < ranges.length; i += 2) {
      assert.equal(ranges[i], end, `range ${i / 2} starts where the previous ended`);
      end += ranges[i + 1]!;
    }
    assert.ok(end >= 3 * MiB && end <= 4 * MiB, `written back ${end} bytes`);
    assert.deepEqual(await run(0, sequential), [], 'writebackBytes 0 leaves it to the kernel');
    const random = await run(MiB, async (dev) => {
      for (let i = 0; i < 1500; i++) await dev.write(((i * 7919) % 2048) * 4096, Buffer.alloc(4096, i % 251), false);
    });
    assert.deepEqual(random, [], 'short random writes are left to the kernel');
  });

  it('redoes the log after an unclean stop (no checkpoint since the writes)', async () => {
    const dir = scratchDir();
    try {
      const size = 4 * MiB;
      createWalDevice({ dataPath: dir.file('data'), logPath: dir.file('log'), size, logSize: 8 * MiB, pbs: 4096 });
      const dev = openDevice(dir, { checkpointIntervalMs: 1e9 });
      const model = Buffer.alloc(size);
      for (let i = 0; i < 200; i++) {
        const pos = ((i * 7919) % (size / 4096)) * 4096;
        const data = Buffer.alloc(8192 > size - pos ? 4096 : 8192, i);
        void dev.write(pos, data, false);
        data.copy(model, pos);
      }
      await dev.flush();
      await dev.cut();
      // Simulate a crash: the data device loses everything (as if nothing reached it), the log stays.
      closeSync(openSync(dir.file('data'), 'w'));
      zeroImage(dir.file('data'), size);
      const again = openDevice(dir);
      assert.ok(again.recovery.packsRedone > 0);
      assert.ok(Buffer.from(await again.read(0, size)).equals(model));
      await again.close();
    } finally {
      dir.cleanup();
    }
  });

  it('keeps lsids in order and tells the storage agent what is durable', async () => {
    const dir = scratchDir();
    try {
      createWalDevice({ dataPath: dir.file('data'), logPath: dir.file('log'), size: 4 * MiB, logSize: 8 * MiB, pbs: 4096 });
      const dev = openDevice(dir);
      await dev.write(0, Buffer.alloc(65536, 1), false);
      const cut = await dev.cut();
      const l = dev.lsids();
      assert.ok(l.oldest <= l.written && l.written <= l.applied && l.applied <= l.permanent && l.permanent <= l.completed && l.completed <= l.latest);
      assert.ok(l.permanent >= cut && cut > 0);
      await assert.rejects(dev.setOldestLsid(cut + 1), /oldest lsid/);
      await dev.setOldestLsid(cut);
      assert.equal(dev.status().logUsagePb, 0);
      await dev.close();
    } finally {
      dir.cleanup();
    }
  });

  it('closes cleanly even when no background sync ran (everything applied and checkpointed)', async () => {
    const dir = scratchDir();
    try {
      createWalDevice({ dataPath: dir.file('data'), logPath: dir.file('log'), size: 4 * MiB, logSize: 8 * MiB, pbs: 4096 });
      const dev = openDevice(dir, { logFlushIntervalMs: 1e9, checkpointIntervalMs: 1e9 });
      const model = Buffer.alloc(4 * MiB);
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) {
        const data = Buffer.alloc(4096, i + 1);
        writes.push(dev.write(i * 8192, data, false));
        data.copy(model, i * 8192);
      }
      await Promise.all(writes);
      await dev.close();
      assert.ok(readFileSync(dir.file('data')).equals(model), 'the data device holds every write after close');
      const again = openDevice(dir);
      assert.equal(again.recovery.packsRedone, 0);
      await again.close();
    } finally {
      dir.cleanup();
    }
  });
});
