import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { openImage, closeImage } from '@blockwal/core';
import { scratchDir } from '../../../test/support/scratch.js';

describe('image target', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  it('batched writes and zero fills (small and large, inside and past the end) equal doing them one by one', () => {
    const opArb = fc.record({ zero: fc.boolean(), lb: fc.integer({ min: 0, max: 3000 }), n: fc.integer({ min: 1, max: 600 }), seed: fc.integer({ min: 1, max: 255 }) });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 20 }), fc.array(opArb, { maxLength: 40 }), (initial, ops) => {
        const file = tmp.file('img');
        writeFileSync(file, Buffer.alloc(initial, 0xee));
        let want = Buffer.alloc(initial, 0xee);
        const img = openImage(file);
        try {
          for (const op of ops) {
            const pos = op.lb * 512;
            const len = op.n * 512;
            if (want.length < pos + len) want = Buffer.concat([want, Buffer.alloc(pos + len - want.length)]);
            if (op.zero) {
              img.zeroBlocks(op.lb, op.n);
              want.fill(0, pos, pos + len);
            } else {
              const data = Buffer.alloc(len, op.seed);
              img.write(data, pos);
              data.fill(0); // the target must have taken its own copy
              want.fill(op.seed, pos, pos + len);
            }
          }
          img.sync();
        } finally {
          closeImage(img);
        }
        assert.ok(readFileSync(file).equals(want));
      }),
      { numRuns: 1000 },
    );
  });
});
