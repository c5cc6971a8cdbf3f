import assert from 'node:assert/strict';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { alignedBuffersAvailable, isAligned } from '@blockwal/native-io';
import { IO_ALIGN, SequentialReader, ioBuffer, literalBuffer, readBuffer } from '@blockwal/core';
import { scratchDir } from '../../../test/support/scratch.js';

describe('sequential reader and I/O buffers', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  it('ioBuffer gives zeroed buffers, page-aligned when the addon is there', () => {
    const b = ioBuffer(3 * IO_ALIGN + 17);
    assert.equal(b.length, 3 * IO_ALIGN + 17);
    assert.ok(b.every((x) => x === 0));
    assert.equal(isAligned(b, IO_ALIGN), alignedBuffersAvailable);
    const r = readBuffer(200_000);
    assert.equal(r.length, 200_000);
    assert.equal(isAligned(r, IO_ALIGN), alignedBuffersAvailable);
    // A compressor's output: 256 bytes into a page, so that literal copies from record data (at
    // multiples of 512 within a page) never land just ahead of their source.
    const l = literalBuffer(70_000);
    assert.equal(l.length, 70_000);
    assert.ok(l.every((x) => x === 0));
    if (alignedBuffersAvailable) {
      assert.ok(!isAligned(l, 512));
      assert.ok(isAligned(l.subarray(IO_ALIGN - 256), IO_ALIGN));
    }
  });

  it('reads and skips give the file bytes, with views at addresses congruent to their file offsets (mod the page)', () => {
    const opArb = fc.record({ skip: fc.boolean(), n: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 1, max: 300_000 })) });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 700_000 }), fc.integer({ min: 0, max: 9000 }), fc.array(opArb, { maxLength: 30 }), fc.integer({ min: 1, max: 300_000 }), (size, start0, ops, bufferSize) => {
        const file = tmp.file('seq');
        const data = randomBytes(size);
        writeFileSync(file, data);
        const start = Math.min(start0, size);
        const fd = openSync(file, 'r');
        try {
          const rd = new SequentialReader(fd, { file, startOffset: start, bufferSize });
          let pos = start;
          for (const op of ops) {
            assert.equal(rd.position, pos);
            if (op.skip) {
              const k = rd.skip(op.n); // may pass the end of a seekable file: reads then return nothing
              assert.ok(k <= op.n && (k === op.n || pos + k >= size), `skip(${op.n}) at ${pos} gave ${k}`);
              pos += k;
              continue;
            }
            const v = rd.read(op.n);
            const want = data.subarray(pos, Math.min(size, pos + op.n));
            assert.ok(Buffer.from(v.buffer, v.byteOffset, v.length).equals(want), `read(${op.n}) at ${pos}`);
            if (alignedBuffersAvailable && v.length > 0) {
              const toPage = (IO_ALIGN - (pos % IO_ALIGN)) % IO_ALIGN;
              if (toPage < v.length) assert.ok(isAligned(v.subarray(toPage), IO_ALIGN), `view at file offset ${pos} is not page-congruent`);
            }
            pos += v.length;
          }
          if (pos >= size) assert.ok(rd.atEof());
        } finally {
          closeSync(fd);
        }
      }),
      { numRuns: 300 },
    );
  });
});
