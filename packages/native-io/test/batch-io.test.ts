import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { IoPlan, preadBatch, pwriteBatch } from '@blockwal/native-io';

describe('batched positioned I/O', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'batch-io-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes and reads back like single pwrite/pread calls, in order (later writes win)', () => {
    const file = path.join(dir, 'f');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(4000), fc.nat(60000), fc.integer({ min: 0, max: 3000 })), { maxLength: 40 }), (entries) => {
        writeFileSync(file, Buffer.alloc(0));
        const buf = Buffer.alloc(8000);
        for (let i = 0; i < buf.length; i++) buf[i] = (i * 7 + 3) & 0xff;
        const want = Buffer.alloc(70000);
        const p = new IoPlan(2);
        let maxEnd = 0;
        for (const [b, f, l0] of entries) {
          const l = Math.min(l0, buf.length - b);
          p.add(b, f, l);
          buf.copy(want, f, b, b + l);
          if (l > 0) maxEnd = Math.max(maxEnd, f + l);
        }
        const fd = openSync(file, 'r+');
        try {
          pwriteBatch(fd, buf, p);
        } finally {
          closeSync(fd);
        }
        const got = readFileSync(file);
        assert.deepEqual(got, want.subarray(0, maxEnd));
        // read every entry back into a fresh buffer at the same offsets
        const back = Buffer.alloc(8000);
        const rp = new IoPlan();
        const seen = new Set<number>();
        for (const [b, f, l0] of entries) {
          const l = Math.min(l0, buf.length - b);
          let overlap = false;
          for (let k = b; k < b + l; k++) if (seen.has(k)) overlap = true;
          if (overlap || l === 0) continue;
          for (let k = b; k < b + l; k++) seen.add(k);
          rp.add(b, f, l);
        }
        const rfd = openSync(file, 'r');
        try {
          preadBatch(rfd, back, rp);
        } finally {
          closeSync(rfd);
        }
        for (let i = 0; i < rp.count; i++) {
          const [b, f, l] = [rp.plan[3 * i]!, rp.plan[3 * i + 1]!, rp.plan[3 * i + 2]!];
          assert.deepEqual(back.subarray(b, b + l), got.subarray(f, f + l));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('fails with ENODATA when a read runs past the end of the file', () => {
    const file = path.join(dir, 'short');
    writeFileSync(file, Buffer.alloc(100));
    const fd = openSync(file, 'r');
    try {
      const p = new IoPlan();
      p.add(0, 50, 100);
      assert.throws(() => preadBatch(fd, Buffer.alloc(100), p), (e: NodeJS.ErrnoException) => e.code === 'ENODATA');
    } finally {
      closeSync(fd);
    }
  });

  it('rejects plan entries outside the buffer', () => {
    const fd = openSync(path.join(dir, 'short'), 'r');
    try {
      const p = new IoPlan();
      p.add(90, 0, 20);
      assert.throws(() => preadBatch(fd, Buffer.alloc(100), p), RangeError);
    } finally {
      closeSync(fd);
    }
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
