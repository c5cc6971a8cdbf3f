/**
 * The NBD server with real clients: nbdinfo, qemu-io, nbdcopy and fio's nbd engine, over a unix
 * socket and over TCP. Each tool is skipped when it is not installed.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MemoryExport } from '../src/nbd/memory-export.js';
import { assertHealthy, have, memoryExport, run, startFixture, type Fixture } from './support/nbd-fixture.js';

const MiB = 1024 * 1024;

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** qemu-io succeeded: exit 0 and no verification or I/O failure printed. */
function assertQemuIoOk(r: { code: number; stdout: string; stderr: string }): void {
  const all = r.stdout + r.stderr;
  assert.equal(r.code, 0, all);
  assert.doesNotMatch(all, /verification failed|failed|error/i, all);
}

describe('nbd server with real clients', function () {
  let fx: Fixture;
  let vol: MemoryExport;
  let img: MemoryExport;
  let ro: MemoryExport;

  before(async () => {
    vol = memoryExport({ name: 'vol0', size: 64 * MiB, description: 'blockwal test volume' });
    img = memoryExport({ name: 'img', size: 48 * MiB });
    ro = memoryExport({ name: 'ro', size: 4 * MiB, readOnly: true });
    fx = await startFixture([vol, img, ro]);
  });

  after(async () => {
    await fx.stop();
    assert.equal(fx.server.connectionCount, 0);
  });

  afterEach(async () => {
    await assertHealthy({ path: fx.socketPath }, 'vol0');
  });

  describe('nbdinfo', () => {
    before(async function () {
      if (!(await have('nbdinfo'))) this.skip();
    });

    for (const via of ['unix', 'tcp'] as const) {
      it(`shows the export, its size, block sizes and flags (${via})`, async () => {
        const uri = via === 'unix' ? fx.unixUri('vol0') : fx.tcpUri('vol0');
        const r = await run('nbdinfo', ['--json', uri]);
        assert.equal(r.code, 0, r.stderr);
        const j = JSON.parse(r.stdout);
        assert.equal(j.protocol, 'newstyle-fixed');
        assert.equal(j.structured, true);
        const e = j.exports[0];
        assert.equal(e['export-name'], 'vol0');
        assert.equal(e.description, 'blockwal test volume');
        assert.equal(e['export-size'], 64 * MiB);
        assert.equal(e.block_size_minimum, 512);
        assert.equal(e.block_size_preferred, 4096);
        assert.equal(e.block_size_maximum, 32 * MiB);
        assert.equal(e.is_read_only, false);
        for (const f of ['can_flush', 'can_fua', 'can_trim', 'can_zero', 'can_multi_conn', 'can_df', 'can_fast_zero']) assert.equal(e[f], true, f);
        assert.equal(e.can_cache, false);
        assert.deepEqual(e.contexts, ['base:allocation']);
      });
    }

    it('--list shows every export', async () => {
      const r = await run('nbdinfo', ['--json', '--list', fx.unixUri('')]);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      const byName = Object.fromEntries(j.exports.map((e: Record<string, unknown>) => [e['export-name'], e]));
      assert.deepEqual(Object.keys(byName).sort(), ['img', 'ro', 'vol0']);
      assert.equal(byName.ro.is_read_only, true);
      assert.equal(byName.ro.can_trim, false);
      assert.equal(byName.img['export-size'], 48 * MiB);
    });

    it('--map reports the whole export as data (base:allocation)', async () => {
      const r = await run('nbdinfo', ['--map', '--json', fx.unixUri('vol0')]);
      assert.equal(r.code, 0, r.stderr);
      const m = JSON.parse(r.stdout);
      assert.deepEqual(m, [{ offset: 0, length: 64 * MiB, type: 0, description: 'data' }]);
    });

    it('an unknown export fails cleanly', async () => {
      const r = await run('nbdinfo', [fx.unixUri('nope')]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /unknown|not|nope/i);
    });
  });

  describe('qemu-io', () => {
    before(async function () {
      if (!(await have('qemu-io'))) this.skip();
    });

    for (const via of ['unix', 'tcp'] as const) {
      it(`writes, zeroes, discards, flushes, FUA-writes and verifies patterns (${via})`, async () => {
        const uri = via === 'unix' ? fx.unixUri('vol0') : fx.tcpUri('vol0');
        const fua = vol.counters.fua;
        const r = await run('qemu-io', [
          '-f', 'raw', uri,
          '-c', 'write -P 0xab 0 1M',
          '-c', 'read -P 0xab 0 1M',
          '-c', 'write -z 1M 64k',
          '-c', 'read -P 0 1M 64k',
          '-c', 'write -z -u 1088k 64k',
          '-c', 'read -P 0 1088k 64k',
          '-c', 'discard 2M 64k',
          '-c', 'flush',
          '-c', 'write -f -P 7 4096 4096',
          '-c', 'read -P 7 4096 4096',
          '-c', 'read -P 0xab 8192 4096',
          '-c', 'aio_write -P 0x11 8M 64k',
          '-c', 'aio_write -P 0x22 9M 64k',
          '-c', 'aio_flush',
          '-c', 'read -P 0x11 8M 64k',
          '-c', 'read -P 0x22 9M 64k',
          '-c', 'write -P 0x33 63M 1M',
          '-c', 'read -P 0x33 63M 1M',
        ]);
        assertQemuIoOk(r);
        assert.ok(vol.counters.fua > fua, 'FUA reached the export');
        assert.ok(vol.readSync(0, MiB).subarray(8192).every((b) => b === 0xab));
        assert.ok(vol.readSync(MiB, 128 * 1024).every((b) => b === 0));
        assert.ok(vol.readSync(4096, 4096).every((b) => b === 7));
      });
    }

    it('a pattern mismatch is reported by qemu-io (the check above can fail)', async () => {
      const r = await run('qemu-io', ['-f', 'raw', fx.unixUri('vol0'), '-c', 'write -P 1 0 4k', '-c', 'read -P 2 0 4k']);
      assert.match(r.stdout + r.stderr, /verification failed/i);
    });

    it('two qemu-io processes at once on disjoint ranges', async () => {
      const [a, b] = await Promise.all([
        run('qemu-io', ['-f', 'raw', fx.unixUri('vol0'), '-c', 'write -P 0x61 16M 4M', '-c', 'read -P 0x61 16M 4M']),
        run('qemu-io', ['-f', 'raw', fx.tcpUri('vol0'), '-c', 'write -P 0x62 24M 4M', '-c', 'read -P 0x62 24M 4M']),
      ]);
      assertQemuIoOk(a);
      assertQemuIoOk(b);
      assert.ok(vol.readSync(16 * MiB, 4 * MiB).every((x) => x === 0x61));
      assert.ok(vol.readSync(24 * MiB, 4 * MiB).every((x) => x === 0x62));
    });

    it('a write on a read-only export fails, reads work', async () => {
      const r = await run('qemu-io', ['-f', 'raw', '-r', fx.unixUri('ro'), '-c', 'read -P 0 0 64k']);
      assertQemuIoOk(r);
      const w = await run('qemu-io', ['-f', 'raw', fx.unixUri('ro'), '-c', 'write -P 1 0 4k']);
      assert.match(w.stdout + w.stderr, /read.only|permission|not permitted/i);
    });
  });

  describe('nbdcopy', () => {
    before(async function () {
      if (!(await have('nbdcopy'))) this.skip();
    });

    for (const connections of [1, 4]) {
      it(`copies an image in and out unchanged (--connections=${connections})`, async () => {
        const src = join(fx.dir, `in-${connections}.raw`);
        const out = join(fx.dir, `out-${connections}.raw`);
        // Random data with a zero hole in the middle and a distinct tail.
        const data = Buffer.concat([randomBytes(20 * MiB), Buffer.alloc(8 * MiB), randomBytes(20 * MiB - 4096), Buffer.alloc(4096, 0xee)]);
        await writeFile(src, data);
        const inn = await run('nbdcopy', [`--connections=${connections}`, '--flush', src, fx.unixUri('img')]);
        assert.equal(inn.code, 0, inn.stderr);
        assert.equal(sha256(img.readSync(0, img.size)), sha256(data));
        const outr = await run('nbdcopy', [`--connections=${connections}`, fx.tcpUri('img'), out]);
        assert.equal(outr.code, 0, outr.stderr);
        assert.equal(sha256(await readFile(out)), sha256(data));
      });
    }
  });

  describe('fio (nbd engine)', () => {
    before(async function () {
      if (!(await have('fio'))) this.skip();
      const r = await run('fio', ['--enghelp=nbd']);
      if (r.code !== 0) this.skip();
    });

    it('random 4 KiB writes at queue depth 16 for a second: no errors', async () => {
      const out = join(fx.dir, 'fio.json');
      const r = await run('fio', [
        '--name=rw', '--ioengine=nbd', `--uri=${fx.unixUri('vol0')}`, '--rw=randwrite', '--bs=4k', '--iodepth=16',
        '--size=32M', '--time_based', '--runtime=1', '--output-format=json', `--output=${out}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const job = JSON.parse(await readFile(out, 'utf8')).jobs[0];
      assert.equal(job.error, 0);
      assert.ok(job.write.total_ios > 1000, `only ${job.write.total_ios} writes`);
    });

    it('random writes then read-back verification (crc32c) over TCP', async () => {
      const out = join(fx.dir, 'fio-verify.json');
      const r = await run('fio', [
        '--name=verify', '--ioengine=nbd', `--uri=${fx.tcpUri('vol0')}`, '--rw=randwrite', '--bs=4k', '--iodepth=16',
        '--size=8M', '--verify=crc32c', '--do_verify=1', '--verify_state_save=0', '--output-format=json', `--output=${out}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const job = JSON.parse(await readFile(out, 'utf8')).jobs[0];
      assert.equal(job.error, 0);
      assert.ok(job.read.total_ios > 0, 'verification read back');
    });
  });
});
