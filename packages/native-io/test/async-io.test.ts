import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { startWriteback, writeManyAsync } from '@blockwal/native-io';

describe('asynchronous writes of many buffers', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'async-io-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('equals writing each buffer in turn (later ones win), with contiguous runs merged', async () => {
    const file = path.join(dir, 'f');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(20000), fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 0, max: 255 }), fc.boolean()), { maxLength: 50 }), async (entries) => {
        writeFileSync(file, Buffer.alloc(0));
        const bufs: Uint8Array[] = [];
        const pos: number[] = [];
        let want = Buffer.alloc(0);
        let next = 0;
        for (const [p0, len, v, follow] of entries) {
          const p = follow ? next : p0; // often continue the previous buffer, to exercise runs
          const b = Buffer.alloc(len, v);
          bufs.push(b);
          pos.push(p);
          if (want.length < p + len) want = Buffer.concat([want, Buffer.alloc(p + len - want.length)]);
          b.copy(want, p);
          next = p + len;
        }
        const fd = openSync(file, 'r+');
        try {
          const n = await writeManyAsync(fd, bufs, Float64Array.from(pos));
          assert.equal(n, bufs.reduce((s, b) => s + b.length, 0));
        } finally {
          closeSync(fd);
        }
        assert.ok(readFileSync(file).equals(want));
      }),
      { numRuns: 1000 },
    );
  });

  it('reports a write error (bad descriptor) as a rejected promise', async () => {
    await assert.rejects(writeManyAsync(987654, [Buffer.alloc(10)], Float64Array.of(0)), (e: NodeJS.ErrnoException) => e.code === 'EBADF');
  });

  it('starts the writeback of written ranges: a hint that leaves the data as it is and never fails', async () => {
    const file = path.join(dir, 'wb');
    const data = Buffer.alloc(1 << 20, 0x5a);
    writeFileSync(file, data);
    const fd = openSync(file, 'r+');
    try {
      const started = await startWriteback(fd, Float64Array.of(0, 512 * 1024, 512 * 1024, 512 * 1024));
      assert.equal(started, process.env['BLOCKWAL_NATIVE'] !== '0'); // native: sync_file_range; fallback: nothing
      assert.equal(await startWriteback(fd, new Float64Array(0)), false);
    } finally {
      closeSync(fd);
    }
    assert.ok(readFileSync(file).equals(data));
    assert.equal(await startWriteback(987654, Float64Array.of(0, 4096)), false); // a bad descriptor: not started, no error
  });

  it('the pure-JS fallback passes the same tests', function () {
    if (process.env['BLOCKWAL_NATIVE'] === '0') this.skip();
    this.timeout(120_000);
    const mocha = createRequire(import.meta.url).resolve('mocha/bin/mocha.js');
    const r = spawnSync(process.execPath, [mocha, fileURLToPath(import.meta.url)], { env: { ...process.env, BLOCKWAL_NATIVE: '0' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /3 passing/);
  });
});
