import assert from 'node:assert/strict';
import { closeSync, openSync, ftruncateSync } from 'node:fs';
import fc from 'fast-check';
import { LogDeviceReader, LogDeviceWriter, LogpackAssembler, LogRecordKind, formatLogDevice, type ClosedPack } from '@blockwal/core';
import { scratchDir } from '../../../test/support/scratch.js';

type Io = { discard: boolean; offset: number; lb: number; seed: number };

const ioArb = fc.record({ discard: fc.boolean(), offset: fc.integer({ min: 0, max: 100000 }), lb: fc.integer({ min: 1, max: 40 }), seed: fc.integer({ min: 0, max: 255 }) });

function dataOf(io: Io): Uint8Array {
  const b = new Uint8Array(io.lb * 512);
  for (let i = 0; i < b.length; i += 64) b[i] = (io.seed + i) & 0xff;
  return b;
}

describe('log device writer', () => {
  const tmp = scratchDir();
  after(() => tmp.cleanup());

  it('packs written around the ring end read back as the same records and data (both pbs)', () => {
    fc.assert(
      fc.property(fc.constantFrom(512, 4096), fc.array(ioArb, { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 5000 }), fc.constantFrom(0, 2, 8), (pbs, ios, startLsid, maxPackPb) => {
        const file = tmp.file(`ring-${pbs}.img`);
        const fd = openSync(file, 'w+');
        try {
          ftruncateSync(fd, 4096 + pbs * 200); // a small ring: wraps often
          const sup = formatLogDevice(fd, file, { dataSize: 1 << 30, pbs, salt: 12345 });
          const reader0 = new LogDeviceReader(fd, file);
          const w = new LogDeviceWriter(fd, file, reader0.layout);
          // Start somewhere in the ring (as after many laps), and keep the log within one ring.
          const asm = new LogpackAssembler(pbs, sup.salt, sup.ringBufferSize, startLsid, maxPackPb);
          const packs: ClosedPack[] = [];
          const want: string[] = [];
          for (const io of ios) {
            // Stay within one ring: the worst next step is a padding, a header and 40 lb of data.
            if (asm.endLsid - startLsid > sup.ringBufferSize - 2 * 41 - 2) break;
            const closed = io.discard ? asm.addDiscard(io.offset, io.lb) : asm.addWrite(io.offset, io.lb, dataOf(io));
            packs.push(...closed);
            want.push(io.discard ? `D ${io.offset} ${io.lb}` : `N ${io.offset} ${io.lb} ${Buffer.from(dataOf(io)).toString('base64')}`);
          }
          if (!asm.isEmpty) packs.push(asm.close());
          for (const p of packs) w.writePack(p);
          w.writeSuper({ ...sup, oldestLsid: startLsid, writtenLsid: startLsid });
          const r = new LogDeviceReader(fd, file);
          const got: string[] = [];
          let n = 0;
          const it = r.packs();
          for (;;) {
            const x = it.next();
            if (x.done) {
              if (packs.length) assert.equal(x.value.lsid, packs[packs.length - 1]!.header.logpackLsid + 1 + packs[packs.length - 1]!.header.totalIoSize);
              break;
            }
            n++;
            let pb = 0;
            for (const rec of x.value.header.records) {
              const bytes = x.value.data.subarray(pb * pbs, pb * pbs + rec.ioSize * 512);
              if (rec.kind === LogRecordKind.Normal) got.push(`N ${rec.offset} ${rec.ioSize} ${Buffer.from(bytes).toString('base64')}`);
              else if (rec.kind === LogRecordKind.Discard) got.push(`D ${rec.offset} ${rec.ioSize}`);
              else {
                // padding reaches exactly the ring end
                const end = (rec.lsid % sup.ringBufferSize) + Math.ceil(rec.ioSize / (pbs / 512));
                assert.equal(end, sup.ringBufferSize);
              }
              if (rec.kind !== LogRecordKind.Discard) pb += Math.ceil(rec.ioSize / (pbs / 512));
            }
          }
          assert.equal(n, packs.length);
          assert.deepEqual(got, want);
        } finally {
          closeSync(fd);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('never puts two paddings in one pack, even when a pack could span the ring twice', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 80 }), fc.integer({ min: 0, max: 1000 }), (sizes, start) => {
        const ring = 20;
        const asm = new LogpackAssembler(4096, 1, ring, start, 0);
        const packs: ClosedPack[] = [];
        for (const lb of sizes) packs.push(...asm.addWrite(0, lb, new Uint8Array(lb * 512)));
        if (!asm.isEmpty) packs.push(asm.close());
        let lsid = start;
        for (const p of packs) {
          const h = p.header;
          assert.equal(h.logpackLsid, lsid, 'packs follow each other');
          assert.ok(h.nPadding <= 1);
          for (const r of h.records) if (r.kind === LogRecordKind.Padding) assert.equal((r.lsid % ring) + Math.ceil(r.ioSize / 8), ring, 'padding ends at the ring end');
          lsid = h.logpackLsid + 1 + h.totalIoSize;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
